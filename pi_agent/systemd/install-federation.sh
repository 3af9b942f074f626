#!/usr/bin/env bash
# Install energylib's federated forecaster as systemd services (see pi_agent/README.md).
#
#   sudo pi_agent/systemd/install-federation.sh node        [--user energy]   # each household's Pi
#   sudo pi_agent/systemd/install-federation.sh coordinator [--user energy]   # the SuperLink machine
#
# Run install.sh first (it creates the user, the venv and the state folder).  A node gets
# energy-supernode.service; the coordinator gets energy-superlink.service and
# energy-federate.timer (one federated round every 3 hours).  Settings go in .env:
# ENERGY_SUPERLINK, ENERGY_NODE_CONFIG (node), the TLS variables (see the units).
set -euo pipefail

APP_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
ROLE="${1:-}"
shift || true
SVC_USER="energy"
while [ $# -gt 0 ]; do
  case "$1" in
    --user) SVC_USER="$2"; shift 2 ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
case "$ROLE" in
  node) UNITS="energy-supernode.service"; ENABLE="energy-supernode.service" ;;
  coordinator) UNITS="energy-superlink.service energy-federate.service energy-federate.timer"
               ENABLE="energy-superlink.service energy-federate.timer" ;;
  *) echo "usage: $0 node|coordinator [--user energy]" >&2; exit 2 ;;
esac
[ "$(id -u)" = 0 ] || { echo "run with sudo" >&2; exit 1; }
[ -x "$APP_DIR/.venv/bin/python" ] || { echo "run pi_agent/systemd/install.sh first" >&2; exit 1; }
STATE_DIR="/var/lib/energylib"

# 1. Flower (and torch, to train) in the app's venv.  A node needs no Ray: plain flwr.
if [ "$ROLE" = node ]; then
  "$APP_DIR/.venv/bin/python" -m pip install --quiet 'flwr>=1.42' 'tomli-w>=1.0'
else
  "$APP_DIR/.venv/bin/python" -m pip install --quiet -e "$APP_DIR[scale]"
fi
install -d -o "$SVC_USER" -g "$SVC_USER" -m 750 "$STATE_DIR/federation" "$STATE_DIR/models"

# 2. A node's data and models folder, unless .env already names them.
if [ "$ROLE" = node ] && ! grep -q '^ENERGY_NODE_CONFIG=' "$APP_DIR/.env" 2>/dev/null; then
  echo "ENERGY_NODE_CONFIG='dataset=\"store\" path=\"$STATE_DIR/processed\" source=\"amber\" key=\"home\" model-dir=\"$STATE_DIR/models\"'" >> "$APP_DIR/.env"
  echo "added ENERGY_NODE_CONFIG to $APP_DIR/.env: check source and key (the site your usage is stored under)"
fi

# 3. The units with the paths filled in.
for unit in $UNITS; do
  sed -e "s#@APP_DIR@#$APP_DIR#g" -e "s#@USER@#$SVC_USER#g" -e "s#@STATE_DIR@#$STATE_DIR#g" \
    "$APP_DIR/pi_agent/systemd/$unit" > "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable --now $ENABLE

echo "installed the federation $ROLE: $ENABLE"
echo "check: systemctl status $ENABLE; journalctl -u ${ENABLE%% *}"
