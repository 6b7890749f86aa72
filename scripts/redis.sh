#!/usr/bin/env bash
# Starts a throwaway redis-server on a loopback port for the redisstate
# tests (and CI), installing it from the system's packages when missing.
# Prints the address to use as LLMLIMIT_REDIS_ADDR. Idempotent: a server
# already answering on the port is reused.
#
#   scripts/redis.sh            # 127.0.0.1:6390
#   scripts/redis.sh 6391       # another port
#   LLMLIMIT_REDIS_ADDR=$(scripts/redis.sh | tail -1) go test -race ./redisstate
set -euo pipefail

port="${1:-6390}"

if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
	echo "redis.sh: installing redis-server" >&2
	sudo=""
	if [ "$(id -u)" != 0 ]; then
		sudo="sudo"
	fi
	$sudo apt-get update -qq >&2
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq redis-server >&2
fi

if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" != "PONG" ]; then
	# No persistence: the tests' keys are throwaway, and a dump file
	# would land in the working directory.
	redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no \
		--daemonize yes --logfile "/tmp/llmlimit-redis-$port.log" \
		--pidfile "/tmp/llmlimit-redis-$port.pid" --dir /tmp >&2
	for _ in $(seq 1 100); do
		if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" = "PONG" ]; then
			break
		fi
		sleep 0.1
	done
fi

if [ "$(redis-cli -h 127.0.0.1 -p "$port" ping 2>/dev/null || true)" != "PONG" ]; then
	echo "redis.sh: redis-server on 127.0.0.1:$port does not answer; see /tmp/llmlimit-redis-$port.log" >&2
	exit 1
fi
echo "127.0.0.1:$port"
