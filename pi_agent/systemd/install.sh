#!/usr/bin/env bash
# Install the energylib agent and kiosk as systemd services on a Raspberry Pi.
#
#   sudo pi_agent/systemd/install.sh [--user energy] [--desktop-user pi] [--lan]
#
# Run it from a clone outside /home (e.g. /opt/energylib): the service user must be able to
# read the code, and home folders are private on Raspberry Pi OS.  It creates an unprivileged system
# user, a virtual environment, the state folder, the two services (enabled, started),
# and a desktop autostart entry that opens the kiosk page full screen.
set -euo pipefail

APP_DIR="$(cd "$(dirname "$0")/../.." && pwd)"
SVC_USER="energy"
DESKTOP_USER="${SUDO_USER:-pi}"
LAN=0
while [ $# -gt 0 ]; do
  case "$1" in
    --user) SVC_USER="$2"; shift 2 ;;
    --desktop-user) DESKTOP_USER="$2"; shift 2 ;;
    --lan) LAN=1; shift ;;
    *) echo "unknown option $1" >&2; exit 2 ;;
  esac
done
[ "$(id -u)" = 0 ] || { echo "run with sudo" >&2; exit 1; }
STATE_DIR="/var/lib/energylib"

# 1. Packages: Python, Chromium for the kiosk screen, curl for the launcher's health wait.
apt-get update -qq
apt-get install -y -qq python3-venv python3-dev chromium curl >/dev/null || \
  apt-get install -y -qq python3-venv python3-dev chromium-browser curl >/dev/null

# 2. The unprivileged service user and its state folder.
id "$SVC_USER" >/dev/null 2>&1 || useradd --system --home-dir "$STATE_DIR" --shell /usr/sbin/nologin "$SVC_USER"
install -d -o "$SVC_USER" -g "$SVC_USER" -m 750 "$STATE_DIR" "$STATE_DIR/models"

# 3. The virtual environment: the library and the agent extra only (FastAPI, uvicorn,
#    onnxruntime); no torch, Jupyter, papermill or Dask on the Pi.
if [ ! -x "$APP_DIR/.venv/bin/python" ]; then
  python3 -m venv "$APP_DIR/.venv"
fi
"$APP_DIR/.venv/bin/python" -m pip install --quiet --upgrade pip
"$APP_DIR/.venv/bin/python" -m pip install --quiet -e "$APP_DIR[agent]"
chmod -R o+rX "$APP_DIR"

# 4. Secrets stay readable by the service user only.
if [ -f "$APP_DIR/.env" ]; then
  chown "$SVC_USER":"$SVC_USER" "$APP_DIR/.env"
  chmod 600 "$APP_DIR/.env"
fi
if [ "$LAN" = 1 ]; then
  grep -q '^ENERGY_AGENT_KIOSK_HOST=' "$APP_DIR/.env" 2>/dev/null || echo "ENERGY_AGENT_KIOSK_HOST=0.0.0.0" >> "$APP_DIR/.env"
fi

# 5. systemd units with the paths filled in.
for unit in energy-agent.service energy-kiosk.service; do
  sed -e "s#@APP_DIR@#$APP_DIR#g" -e "s#@USER@#$SVC_USER#g" -e "s#@STATE_DIR@#$STATE_DIR#g" \
    "$APP_DIR/pi_agent/systemd/$unit" > "/etc/systemd/system/$unit"
done
systemctl daemon-reload
systemctl enable --now systemd-networkd-wait-online.service 2>/dev/null || \
  systemctl enable NetworkManager-wait-online.service 2>/dev/null || true
systemctl enable --now energy-agent.service energy-kiosk.service

# 6. Full-screen browser at the desktop user's login.
DESKTOP_HOME="$(getent passwd "$DESKTOP_USER" | cut -d: -f6)"
if [ -n "$DESKTOP_HOME" ]; then
  install -d -o "$DESKTOP_USER" -g "$DESKTOP_USER" "$DESKTOP_HOME/.config/autostart"
  cat > "$DESKTOP_HOME/.config/autostart/energy-kiosk.desktop" <<DESKTOP
[Desktop Entry]
Type=Application
Name=Energy kiosk
Exec=$APP_DIR/pi_agent/systemd/kiosk-browser.sh
X-GNOME-Autostart-enabled=true
DESKTOP
  chown "$DESKTOP_USER":"$DESKTOP_USER" "$DESKTOP_HOME/.config/autostart/energy-kiosk.desktop"
fi

echo "installed: energy-agent and energy-kiosk are running as $SVC_USER; state in $STATE_DIR"
echo "check: systemctl status energy-agent energy-kiosk; curl -s http://127.0.0.1:8080/healthz"
