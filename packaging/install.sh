#!/bin/sh
# Add the biofeedback window to this user's application menu (or take it out again).
#
# Run it from the unpacked app folder; the folder stays where it is (the menu entry starts the
# biofeedback executable beside this script). Writes, following the freedesktop specifications:
#   $XDG_DATA_HOME/applications/biofeedback.desktop              (default ~/.local/share/...)
#   $XDG_DATA_HOME/icons/hicolor/256x256/apps/biofeedback.png
#   $XDG_DATA_HOME/icons/hicolor/scalable/apps/biofeedback.svg
# Needs no root and no Python. See docs/packaging.md.
set -eu

usage() {
  echo "usage: install.sh [--uninstall]"
  echo "  adds Biofeedback to your application menu (--uninstall removes it)"
}

here=$(cd "$(dirname "$0")" && pwd -P)
data_home=${XDG_DATA_HOME:-${HOME:?HOME is not set}/.local/share}
apps=$data_home/applications
icons=$data_home/icons/hicolor
entry=$apps/biofeedback.desktop

refresh() {
  # Desktops watch these folders; the caches make the change visible at once where they are used.
  if command -v update-desktop-database >/dev/null 2>&1; then
    update-desktop-database -q "$apps" || echo "install.sh: update-desktop-database failed; the menu updates at the next login" >&2
  fi
  if command -v gtk-update-icon-cache >/dev/null 2>&1; then
    gtk-update-icon-cache -q -t "$icons" 2>/dev/null || echo "install.sh: gtk-update-icon-cache failed; the icon shows after the next login" >&2
  fi
}

case "${1:-}" in
  "") ;;
  --uninstall)
    rm -f "$entry" "$icons/256x256/apps/biofeedback.png" "$icons/scalable/apps/biofeedback.svg"
    refresh
    echo "removed the Biofeedback menu entry ($entry); the app folder $here is untouched"
    exit 0
    ;;
  -h | --help)
    usage
    exit 0
    ;;
  *)
    echo "install.sh: unknown option '$1'" >&2
    usage >&2
    exit 2
    ;;
esac

if [ ! -x "$here/biofeedback" ]; then
  echo "install.sh: no biofeedback executable in $here: run the install.sh of the unpacked app folder" >&2
  exit 2
fi
case "$here" in
  *[\"\`\$\\%]*)
    echo "install.sh: the folder $here contains one of \" \` \$ \\ % which a menu entry cannot hold: move the app folder" >&2
    exit 2
    ;;
esac

mkdir -p "$apps" "$icons/256x256/apps" "$icons/scalable/apps"
cp "$here/share/icons/hicolor/256x256/apps/biofeedback.png" "$icons/256x256/apps/biofeedback.png"
cp "$here/share/icons/hicolor/scalable/apps/biofeedback.svg" "$icons/scalable/apps/biofeedback.svg"
escaped=$(printf '%s' "$here" | sed 's/[&|]/\\&/g')
sed "s|@APPDIR@|$escaped|g" "$here/share/applications/biofeedback.desktop" >"$entry.tmp"
mv "$entry.tmp" "$entry"
refresh
echo "Biofeedback is in your application menu ($entry)"
