-- The queue's key spaces (escalation.Buckets), one table each: k is the
-- key (bytes, in order), v the value (JSON records, or empty for index
-- keys). What the keys mean is in escalation/store.go and outbox.go.

-- +goose Up
CREATE TABLE tickets (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_status (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_assignee (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_customer (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE outbox (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE outbox_dead (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE conversations (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE meta (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_contact (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE answers (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE ticket_entries (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE ticket_events (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_outbox_to (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_outbox_due (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE TABLE idx_retention (k bytea PRIMARY KEY, v bytea NOT NULL);
CREATE SEQUENCE tickets_seq;
CREATE SEQUENCE outbox_seq;

-- +goose Down
DROP SEQUENCE outbox_seq;
DROP SEQUENCE tickets_seq;
DROP TABLE idx_retention;
DROP TABLE idx_outbox_due;
DROP TABLE idx_outbox_to;
DROP TABLE ticket_events;
DROP TABLE ticket_entries;
DROP TABLE answers;
DROP TABLE idx_contact;
DROP TABLE meta;
DROP TABLE conversations;
DROP TABLE outbox_dead;
DROP TABLE outbox;
DROP TABLE idx_customer;
DROP TABLE idx_assignee;
DROP TABLE idx_status;
DROP TABLE tickets;
