-- The workload behind the recorded binlog fixtures (MariaDB 10.11, binlog_format=ROW, binlog_row_metadata=FULL,
-- binlog_checksum=CRC32). Recorded with: FLUSH BINARY LOGS; this file; FLUSH BINARY LOGS; then the closed file was
-- copied as workload.binlog and `mariadb-binlog --no-defaults -v --base64-output=DECODE-ROWS workload.binlog`
-- saved as workload.mariadb-binlog.txt (see README.md).
SET SESSION sql_mode = '';
SET NAMES utf8mb4;
CREATE DATABASE fixture DEFAULT CHARACTER SET utf8mb4;
USE fixture;
CREATE TABLE alltypes (
 id INT NOT NULL PRIMARY KEY,
 ti TINYINT, tiu TINYINT UNSIGNED, si SMALLINT, siu SMALLINT UNSIGNED, mi MEDIUMINT, miu MEDIUMINT UNSIGNED,
 i INT, iu INT UNSIGNED, bi BIGINT, biu BIGINT UNSIGNED,
 d1 DECIMAL(10,2), d2 DECIMAL(65,30), d3 DECIMAL(5,0), d4 DECIMAL(38,10), f FLOAT, dbl DOUBLE, b1 BIT(1), b13 BIT(13), b64 BIT(64), y YEAR,
 dt DATE, tm TIME, tm3 TIME(3), tm6 TIME(6), dtm DATETIME, dtm3 DATETIME(3), dtm6 DATETIME(6), ts TIMESTAMP NULL, ts2 TIMESTAMP(2) NULL, ts6 TIMESTAMP(6) NULL,
 c CHAR(10), c300 CHAR(255), vc VARCHAR(300), vl VARCHAR(20) CHARACTER SET latin1, tx TEXT, lt LONGTEXT, bn BINARY(4), vb VARBINARY(10), bl BLOB,
 e ENUM('red','green','blue'), s SET('a','b','c','d'), j JSON, g GEOMETRY, p POINT
) DEFAULT CHARSET=utf8mb4;
INSERT INTO alltypes VALUES (1, -128, 255, -32768, 65535, -8388608, 16777215, -2147483648, 4294967295, -9223372036854775808, 18446744073709551615,
 -12345678.91, 12345678901234567890123456789012345.123456789012345678901234567891, -99999, -1234567890123456789012345678.0123456789,
 -1.5e10, 3.141592653589793, b'1', b'1010101010101', b'1111111111111111111111111111111111111111111111111111111111111111', 2024,
 '2024-02-29', '-838:59:59', '-12:34:56.5', '838:59:58.999999', '1000-01-01 00:00:00', '9999-12-31 23:59:59.999', '2001-02-03 04:05:06.000007',
 '2038-01-19 03:14:07', '1970-01-01 00:00:01.01', '2024-06-30 12:00:00.123456',
 'héllo', REPEAT('x', 255), REPEAT('ü', 300), 'Ærø€', 'snowman ☃ and 😀 \' " \\ end', REPEAT('long text ', 1000), 0x00FF0102, 0xDEADBEEF, 0x000102FFFE27,
 'green', 'a,d', '{"k": [1, 2.5, "x", null, true], "ü": {}}', ST_GeomFromText('LINESTRING(0 0,1 1)'), ST_GeomFromText('POINT(1.5 -2)', 4326));
INSERT INTO alltypes (id) VALUES (2);
INSERT INTO alltypes VALUES (3, 0,0,0,0,0,0,0,0,0,0, 0, 0, 0, 0, 0, -0.0, b'0', b'0', b'0', 0, '0000-00-00', '00:00:00', '-00:00:00.001', '-00:00:00.000001',
  '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', '0000-00-00 00:00:00', NULL, NULL,
  '', '', '', '', '', '', '', '', '', '', '', '[]', NULL, NULL);
INSERT INTO alltypes (id, ti, tiu, si, siu, mi, miu, i, iu, bi, biu, d1, d2, d3, d4, f, dbl, y, dt, tm, tm3, dtm, ts, e, s)
 VALUES (4, 127, 0, 32767, 0, 8388607, 0, 2147483647, 0, 9223372036854775807, 9223372036854775808,
 99999999.99, -0.000000000000000000000000000001, 1, 0.0000000001, 3.4e38, -1.7976931348623157e308, 2155, '9999-12-31', '838:59:59', '00:00:00.999',
 '1970-01-01 00:00:00', '1970-01-01 00:00:01', 'blue', 'a,b,c,d');
UPDATE alltypes SET vc = 'changed', i = i + 1 WHERE id = 1;
DELETE FROM alltypes WHERE id = 2;
-- DDL mid-stream: add, drop, rename, retype, with rows before and after
CREATE TABLE evolve (id BIGINT UNSIGNED NOT NULL AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20) NOT NULL, qty INT) DEFAULT CHARSET latin1;
INSERT INTO evolve (name, qty) VALUES ('før', 1), ('b', NULL);
ALTER TABLE evolve ADD COLUMN price DECIMAL(8,3) NOT NULL DEFAULT 1.5 AFTER name, ADD COLUMN note TEXT CHARACTER SET utf8mb4;
INSERT INTO evolve (name, price, qty, note) VALUES ('c', 2.25, 3, 'ņote');
ALTER TABLE evolve DROP COLUMN qty;
INSERT INTO evolve (name, price, note) VALUES ('d', 4.125, NULL);
ALTER TABLE evolve RENAME COLUMN name TO title;
ALTER TABLE evolve MODIFY title VARCHAR(40) CHARACTER SET utf8mb4 NOT NULL, CHANGE price cost DOUBLE;
UPDATE evolve SET cost = cost * 2, title = CONCAT(title, '✓');
RENAME TABLE evolve TO evolved;
DELETE FROM evolved WHERE id = 1;
-- row images MINIMAL and NOBLOB: columns left out of the image are missing, not NULL
SET SESSION binlog_row_image = MINIMAL;
UPDATE alltypes SET i = 42 WHERE id = 3;
DELETE FROM alltypes WHERE id = 4;
SET SESSION binlog_row_image = NOBLOB;
UPDATE alltypes SET tx = 'noblob', vc = 'v' WHERE id = 3;
SET SESSION binlog_row_image = FULL;
-- a multi-row transaction
START TRANSACTION;
INSERT INTO evolved (title, cost) VALUES ('t1', 1), ('t2', 2), ('t3', 3);
UPDATE evolved SET cost = 0 WHERE title LIKE 't%';
COMMIT;
DROP TABLE evolved;
