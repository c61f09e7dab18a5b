-- +goose Up
CREATE TABLE kv (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE seq (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE SEQUENCE seq_seq;

-- +goose Down
DROP SEQUENCE seq_seq;
DROP TABLE seq;
DROP TABLE kv;
