-- The workload behind decoder.binlog (MariaDB 10.11, the harness's settings; recorded like workload.binlog, see
-- README.md): YEAR columns among signed and unsigned numbers (TABLE_MAP signedness bits), BINARY(n) values with
-- trailing zero bytes and CHAR(n) values with trailing spaces, and XA transactions prepared, then committed or rolled
-- back while other transactions commit in between. `connect` (the client's reconnect) leaves a prepared XA
-- transaction behind, as an application's transaction manager would, so that others can commit meanwhile.
SET SESSION sql_mode = '';
SET NAMES utf8mb4;
CREATE DATABASE decoder DEFAULT CHARACTER SET utf8mb4;
USE decoder;
-- More than eight signedness bits, YEAR first, between and last.
CREATE TABLE signs (
 y0 YEAR, id INT NOT NULL PRIMARY KEY, u INT UNSIGNED, s INT, y1 YEAR, tu TINYINT UNSIGNED, ts TINYINT, su SMALLINT UNSIGNED,
 mu MEDIUMINT UNSIGNED, ms MEDIUMINT, bu BIGINT UNSIGNED, d DECIMAL(6,2), f FLOAT, dd DOUBLE, dt DATE, y2 YEAR, iu INT UNSIGNED
);
INSERT INTO signs VALUES (2024, 1, 4294967295, -2147483648, 1901, 255, -128, 65535, 16777215, -8388608, 18446744073709551615, -1234.5, 1.5, -2.25, '2024-01-02', 2155, 3000000000);
INSERT INTO signs VALUES (0, 2, 0, 0, NULL, 0, 0, 0, 0, 0, 0, 0, 0, 0, NULL, 0, 1);
-- Trailing 0x00 of BINARY(n) and trailing spaces of CHAR(n) are stripped in the binlog.
CREATE TABLE bins (id BINARY(6) NOT NULL PRIMARY KEY, b BINARY(4), c CHAR(5), cl CHAR(4) CHARACTER SET latin1, vb VARBINARY(6), b1 BINARY(1));
INSERT INTO bins VALUES (x'00AB00000000', x'00000000', 'ab  ', 'é ', x'AB00', x'00');
INSERT INTO bins VALUES (x'000000000000', x'01000002', '', '', x'', x'41');
UPDATE bins SET b = x'FF000000' WHERE id = x'00AB00000000';
-- XA: prepared, another transaction commits, then the outcome in its own event group.
CREATE TABLE xa (id INT NOT NULL PRIMARY KEY, v INT NOT NULL);
INSERT INTO xa VALUES (1, 1);
XA START 'fixture-commit'; INSERT INTO xa VALUES (2, 2); UPDATE xa SET v = 10 WHERE id = 1; XA END 'fixture-commit'; XA PREPARE 'fixture-commit';
connect;
XA START 'fixture-rollback', 'branch', 7; INSERT INTO xa VALUES (3, 3); XA END 'fixture-rollback', 'branch', 7; XA PREPARE 'fixture-rollback', 'branch', 7;
connect;
INSERT INTO xa VALUES (4, 4);
XA ROLLBACK 'fixture-rollback', 'branch', 7;
INSERT INTO xa VALUES (5, 5);
XA COMMIT 'fixture-commit';
XA START 'fixture-one-phase'; INSERT INTO xa VALUES (6, 6); XA END 'fixture-one-phase'; XA COMMIT 'fixture-one-phase' ONE PHASE;
INSERT INTO xa VALUES (7, 7);
