#!/usr/bin/env bash
# Makes sure the local PostgreSQL, Redis and RabbitMQ are running; starts any that stopped.
set -uo pipefail
if ! pg_isready -q -h 127.0.0.1 -p 5432; then
  echo "starting PostgreSQL" >&2
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
  echo "starting Redis" >&2
  redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no
fi
if ! (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
  echo "starting RabbitMQ" >&2
  rabbitmq-server -detached
fi
for _ in $(seq 1 60); do
  if pg_isready -q -h 127.0.0.1 -p 5432 \
    && redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1 \
    && (exec 3<>/dev/tcp/127.0.0.1/5672) 2>/dev/null; then
    exit 0
  fi
  sleep 1
done
echo "PostgreSQL, Redis or RabbitMQ did not come up within 60 s" >&2
exit 1
