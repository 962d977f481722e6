#!/bin/bash
# Container health check without curl: GET /api/health over bash's /dev/tcp must answer 200.
# With TLS on (CHORUS_TLS_CERT), bash cannot speak HTTPS: an accepted TCP connection is the check.
port="${CHORUS_PORT:-8080}"
exec 3<>"/dev/tcp/127.0.0.1/$port" || exit 1
[ -n "${CHORUS_TLS_CERT:-}" ] && exit 0
printf 'GET /api/health HTTP/1.0\r\nHost: localhost\r\n\r\n' >&3
IFS= read -r -t 5 status <&3 || exit 1
case "$status" in
  "HTTP/1.1 200"*) exit 0 ;;
  *) echo "chorus-healthcheck: $status" >&2; exit 1 ;;
esac
