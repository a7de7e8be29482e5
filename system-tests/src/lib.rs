//! certctl's system tests live in `tests/it/`: every suite that runs the real api-server, alone or
//! with the notifier-worker and the revocation-responder, against the machine's PostgreSQL and
//! RabbitMQ, judged by OpenSSL and pkilint. This library is empty; the crate exists so those
//! suites can depend on every daemon at once without any daemon depending on another.
