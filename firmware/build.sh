#!/usr/bin/env bash
# Build the biofeedback sketch for an Arduino Uno (ATmega328P, 16 MHz) with plain avr-gcc against
# Debian's Arduino core (apt-get install gcc-avr avr-libc binutils-avr arduino-core-avr), the way
# the Arduino IDE would. arduino-cli and PlatformIO download their own toolchains, which CI cannot.
#
#   firmware/build.sh [BUILD_DIR]     (default firmware/build)
#
# Writes BUILD_DIR/biofeedback.elf and .hex and prints flash and RAM use. Environment overrides:
# ARDUINO_AVR (core location), MCU, F_CPU.
set -euo pipefail

here="$(cd "$(dirname "$0")" && pwd)"
sketch="$here/biofeedback"
build="${1:-$here/build}"
ARDUINO_AVR="${ARDUINO_AVR:-/usr/share/arduino/hardware/arduino/avr}"
MCU="${MCU:-atmega328p}"
F_CPU="${F_CPU:-16000000L}"
FLASH_BYTES=32256 # 32 KiB minus the 512-byte optiboot bootloader
RAM_BYTES=2048

for tool in avr-gcc avr-g++ avr-ar avr-objcopy avr-size; do
  if ! command -v "$tool" >/dev/null 2>&1; then
    echo "build.sh: $tool not found: apt-get install gcc-avr avr-libc binutils-avr arduino-core-avr" >&2
    exit 3
  fi
done
core="$ARDUINO_AVR/cores/arduino"
variant="$ARDUINO_AVR/variants/standard"
if [ ! -f "$core/Arduino.h" ]; then
  echo "build.sh: Arduino core not found at $core: apt-get install arduino-core-avr (or set ARDUINO_AVR)" >&2
  exit 3
fi

mkdir -p "$build/core" "$build/sketch"
defs=(-mmcu="$MCU" -DF_CPU="$F_CPU" -DARDUINO=10807 -DARDUINO_AVR_UNO -DARDUINO_ARCH_AVR
  # Debian's avr-gcc 5.4 lacks DECIMAL_DIG, which the core's WString.cpp needs
  -DDECIMAL_DIG=9)
incs=(-I"$core" -I"$variant" -I"$sketch")
cflags=(-c -g -Os -Wall -std=gnu11 -ffunction-sections -fdata-sections)
cxxflags=(-c -g -Os -Wall -std=gnu++11 -fpermissive -fno-exceptions -ffunction-sections
  -fdata-sections -fno-threadsafe-statics)

# The core is compiled with warnings off, as the IDE does by default; our code with -Wall.
objs=()
for src in "$core"/*.c "$core"/*.cpp "$core"/*.S; do
  [ -e "$src" ] || continue
  name="$(basename "$src")"
  obj="$build/core/$name.o"
  case "$src" in
    *.c) avr-gcc "${cflags[@]}" -w "${defs[@]}" "${incs[@]}" "$src" -o "$obj" ;;
    *.cpp) avr-g++ "${cxxflags[@]}" -w "${defs[@]}" "${incs[@]}" "$src" -o "$obj" ;;
    *.S) avr-gcc -c -g -x assembler-with-cpp "${defs[@]}" "${incs[@]}" "$src" -o "$obj" ;;
  esac
  objs+=("$obj")
done
rm -f "$build/core.a"
avr-ar rcs "$build/core.a" "${objs[@]}"

avr-gcc "${cflags[@]}" -Wextra -Werror "${defs[@]}" "${incs[@]}" "$sketch/frame.c" -o "$build/sketch/frame.c.o"
avr-g++ "${cxxflags[@]}" -Wextra -Werror "${defs[@]}" "${incs[@]}" -x c++ "$sketch/biofeedback.ino" \
  -o "$build/sketch/biofeedback.ino.o"

avr-gcc -Os -g -Wl,--gc-sections -mmcu="$MCU" -o "$build/biofeedback.elf" \
  "$build/sketch/biofeedback.ino.o" "$build/sketch/frame.c.o" "$build/core.a" -lm
avr-objcopy -O ihex -R .eeprom "$build/biofeedback.elf" "$build/biofeedback.hex"

# flash = .text + .data (initial values live in flash); RAM = .data + .bss (before the stack)
read -r text data bss < <(avr-size -B "$build/biofeedback.elf" | awk 'NR == 2 {print $1, $2, $3}')
flash=$((text + data))
ram=$((data + bss))
printf 'firmware: %s\n' "$build/biofeedback.elf"
printf 'flash: %d bytes (%d%% of %d)\n' "$flash" $((100 * flash / FLASH_BYTES)) "$FLASH_BYTES"
printf 'RAM:   %d bytes (%d%% of %d), %d bytes left for the stack\n' \
  "$ram" $((100 * ram / RAM_BYTES)) "$RAM_BYTES" $((RAM_BYTES - ram))
