#!/usr/bin/env bash
# Starts the machine's PostgreSQL and RabbitMQ if they are down, then waits until both accept
# connections. Used by the test and run commands; safe to run repeatedly.
set -euo pipefail

pg_ready() { pg_isready -h 127.0.0.1 -p 5432 -q 2>/dev/null; }
amqp_ready() { (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; }

if ! pg_ready; then
  echo "starting PostgreSQL"
  if ! command -v pg_ctlcluster >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql >/dev/null
  fi
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | head -n1)" main start || true
fi
if ! amqp_ready; then
  echo "starting RabbitMQ"
  if ! command -v rabbitmq-server >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq rabbitmq-server >/dev/null
  fi
  rabbitmq-server -detached || true
fi

for _ in $(seq 1 120); do
  if pg_ready && amqp_ready; then
    exit 0
  fi
  sleep 1
done
pg_ready || echo "PostgreSQL is not accepting connections on 127.0.0.1:5432" >&2
amqp_ready || echo "RabbitMQ is not accepting connections on 127.0.0.1:5672" >&2
exit 1
