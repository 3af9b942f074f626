#!/usr/bin/env bash
# Chromium in kiosk mode on the Pi's touchscreen, showing the local kiosk page.
# Started at login of the desktop user by ~/.config/autostart/energy-kiosk.desktop
# (install.sh writes it); waits for the kiosk web app, then keeps Chromium running.
set -u
URL="${ENERGY_KIOSK_URL:-http://127.0.0.1:8080/}"
BROWSER="$(command -v chromium || command -v chromium-browser)"
PROFILE="${XDG_CACHE_HOME:-$HOME/.cache}/energy-kiosk-chromium"

# Screen stays on: no blanking, no power saving (X11; Wayland/labwc ignore these).
if command -v xset >/dev/null 2>&1 && [ -n "${DISPLAY:-}" ]; then
  xset s off; xset -dpms; xset s noblank
fi

# Wait for the web app (after a power cut it may start after the desktop).
for _ in $(seq 1 120); do
  curl -fsS -o /dev/null "${URL}healthz" && break
  sleep 2
done

# A power cut leaves Chromium's "restore pages?" bubble behind: clear the crash flag.
PREFS="$PROFILE/Default/Preferences"
if [ -f "$PREFS" ]; then
  sed -i 's/"exited_cleanly":false/"exited_cleanly":true/; s/"exit_type":"Crashed"/"exit_type":"Normal"/' "$PREFS"
fi

# Restart Chromium if it ever exits.
while true; do
  "$BROWSER" --kiosk --noerrdialogs --disable-infobars --no-first-run --disable-session-crashed-bubble \
    --disable-features=Translate --disable-pinch --overscroll-history-navigation=0 \
    --check-for-update-interval=31536000 --disable-component-update \
    --user-data-dir="$PROFILE" --app="$URL"
  sleep 5
done
