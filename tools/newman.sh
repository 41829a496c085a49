#!/usr/bin/env bash
# newman.sh COLLECTION: runs the Postman collection with newman (pinned in
# tools/package-lock.json) against a fresh local service (cmd/local-api, the
# demo data seeded) on ports of its own, so that a `make run` in another
# terminal is left alone. Every request's test checks that its status is
# one the OpenAPI document gives (tools/postman.js).
set -euo pipefail
cd "$(dirname "$0")/.."
collection=${1:?usage: tools/newman.sh COLLECTION}
api=${NEWMAN_API_ADDR:-127.0.0.1:3100}
log=$(mktemp)
go build -o bin/local-api ./cmd/local-api
bin/local-api -addr "$api" -dynamodb-addr "${NEWMAN_DYNAMODB_ADDR:-127.0.0.1:8100}" -s3-addr "${NEWMAN_S3_ADDR:-127.0.0.1:9100}" >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
for _ in $(seq 100); do
  curl -fsS "http://$api/api/v1/health" >/dev/null 2>&1 && break
  kill -0 $pid 2>/dev/null || { cat "$log"; exit 1; }
  sleep 0.1
done
tools/node_modules/.bin/newman run "$collection" --env-var "baseUrl=http://$api" --color off --disable-unicode
