#!/bin/sh
# Builds ./ocr from ./ocr.c where `make` is not at hand (the example's Makefile does the
# same: `make -C examples/ocr-c`). Needs libtesseract-dev and libleptonica-dev.
set -eu
cd "$(dirname "$0")"
exec ${CC:-cc} -O2 -g -Wall -Wextra $(pkg-config --cflags tesseract lept) -o ocr ocr.c \
    $(pkg-config --libs tesseract lept)
