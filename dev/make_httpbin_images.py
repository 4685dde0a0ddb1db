"""Regenerate the /v1/image assets under apitest/static/httpbin/ (needs Pillow, a dev dependency).

    .venv/bin/python dev/make_httpbin_images.py

The pictures are a fixed 32x32 gradient, so the files only change when Pillow's encoders do.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image

OUT = Path(__file__).resolve().parent.parent / "apitest" / "static" / "httpbin"
SIZE = 32


def picture() -> Image.Image:
    image = Image.new("RGB", (SIZE, SIZE))
    image.putdata([(x * 8, y * 8, 160) for y in range(SIZE) for x in range(SIZE)])
    return image


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    image = picture()
    image.save(OUT / "image.png", format="PNG", optimize=True)
    image.save(OUT / "image.jpeg", format="JPEG", quality=85)
    image.save(OUT / "image.webp", format="WEBP", lossless=True)


if __name__ == "__main__":
    main()
