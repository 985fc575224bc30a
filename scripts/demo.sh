#!/usr/bin/env bash
# Sets everything up and serves the demo: the simulated Alexandrite (about 500 orders over
# 14 days, cut off at the end of day 14) in the embedded store, one demo user per role, on
# http://127.0.0.1:8000/. Then Alexandrite goes on live (docs/live.md): the OTLP receiver on
# 127.0.0.1:4318 with its live worker, and `simulate --live` sending to it in accelerated time,
# so orders appear, move, get stuck and get lost on the home page while one watches.
# Environment: DEMO_ORDERS, DEMO_DAYS, DEMO_SEED, DEMO_PORT override the defaults;
# DEMO_SPEED (simulated seconds per real second, default 60: an hour a minute),
# DEMO_RECEIVER_PORT (4318), DEMO_LIVE=0 serves the files' data only.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh

export EXPLORER_DATA_DIR="${EXPLORER_DATA_DIR:-$PWD/data}"
mkdir -p "$EXPLORER_DATA_DIR"
if [ ! -s "$EXPLORER_DATA_DIR/secret_key" ]; then
  (umask 077; .venv/bin/python -c "import secrets; print(secrets.token_urlsafe(50))" \
    > "$EXPLORER_DATA_DIR/secret_key")
fi

py=.venv/bin/python
$py manage.py migrate --no-input -v 0
$py manage.py collectstatic --no-input -v 0

traces="$EXPLORER_DATA_DIR/demo-traces"
if [ ! -f "$traces/.done" ]; then
  rm -rf "$traces"
  # Cut off at the end of the last day: the demo's "now" has orders in progress and stuck.
  $py manage.py simulate --orders "${DEMO_ORDERS:-500}" --days "${DEMO_DAYS:-14}" \
    --until-days "${DEMO_DAYS:-14}" --seed "${DEMO_SEED:-7}" --out "$traces"
  $py manage.py ingest "$traces"
  $py manage.py orders --refresh   # the order-status snapshot the home page lists
  $py manage.py tours import --shipped
  touch "$traces/.done"
fi

$py manage.py create_demo_users

if [ "${DEMO_LIVE:-1}" != 0 ]; then
  # The receiver's sender token, generated once into the data folder (never committed).
  tokens="$EXPLORER_DATA_DIR/receiver_tokens.json"
  if [ ! -s "$tokens" ]; then
    (umask 077; $py -c "import json, secrets; print(json.dumps(
      {'demo-simulator': secrets.token_urlsafe(32)}))" > "$tokens")
  fi
  EXPLORER_RECEIVER_TOKENS="$(cat "$tokens")"
  export EXPLORER_RECEIVER_TOKENS
  receiver="127.0.0.1:${DEMO_RECEIVER_PORT:-4318}"
  pids=()
  trap 'kill "${pids[@]}" 2>/dev/null || true; wait' EXIT
  $py manage.py receive --http "$receiver" --grpc off &   # runs the live worker too
  pids+=($!)
  EXPLORER_OTLP_TOKEN="$($py -c "import json, sys; print(json.load(open(sys.argv[1]))[
    'demo-simulator'])" "$tokens")" \
    $py manage.py simulate --live --otlp-endpoint "http://$receiver" \
      --orders "${DEMO_ORDERS:-500}" --days "${DEMO_DAYS:-14}" \
      --until-days "${DEMO_DAYS:-14}" --seed "${DEMO_SEED:-7}" --resume-from-store &
  pids+=($!)
fi

port="${DEMO_PORT:-8000}"
echo "demo: serving on http://127.0.0.1:$port/ (Ctrl-C stops it)"
$py manage.py runserver "127.0.0.1:$port" --noreload
