"""QR images in tests: read a PNG's pixels (no imaging library in the test extras),
draw a picture into a .y4m video for Chromium's fake camera, and decode a QR image
with the console's own bundled jsQR in Chromium."""

from __future__ import annotations

import base64
import struct
import zlib
from pathlib import Path

JSQR = Path(__file__).resolve().parents[2] / "kmcbot" / "staff" / "static" / "jsQR.js"
_CHANNELS = {0: 1, 2: 3, 3: 1, 4: 2, 6: 4}  # PNG colour type -> samples per pixel


def png_luma(data: bytes) -> list[list[int]]:
    """The PNG's pixels as rows of grey levels 0-255 (non-interlaced PNGs of any
    colour type and bit depth 1-8, as segno and Chromium's screenshots write them)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    pos, chunks, palette = 8, b"", b""
    width = height = depth = colour = 0
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos : pos + 4])
        kind, body = data[pos + 4 : pos + 8], data[pos + 8 : pos + 8 + length]
        pos += 12 + length
        if kind == b"IHDR":
            width, height, depth, colour, _, _, interlace = struct.unpack(">IIBBBBB", body)
            assert interlace == 0 and depth <= 8, "interlaced or 16-bit PNG"
        elif kind == b"PLTE":
            palette = body
        elif kind == b"IDAT":
            chunks += body
    raw = zlib.decompress(chunks)
    samples = _CHANNELS[colour]
    stride = (width * samples * depth + 7) // 8
    step = max(1, samples * depth // 8)  # bytes per pixel, for the filters
    rows, previous, at = [], bytearray(stride), 0
    for _ in range(height):
        kind, line = raw[at], bytearray(raw[at + 1 : at + 1 + stride])
        at += 1 + stride
        for i in range(stride):
            left = line[i - step] if i >= step else 0
            up, corner = previous[i], previous[i - step] if i >= step else 0
            if kind == 1:
                line[i] = (line[i] + left) & 0xFF
            elif kind == 2:
                line[i] = (line[i] + up) & 0xFF
            elif kind == 3:
                line[i] = (line[i] + (left + up) // 2) & 0xFF
            elif kind == 4:
                p = left + up - corner
                guess = min(
                    (abs(p - left), 0, left), (abs(p - up), 1, up), (abs(p - corner), 2, corner)
                )
                line[i] = (line[i] + guess[2]) & 0xFF
        previous = line
        rows.append(_grey(line, width, samples, depth, colour, palette))
    return rows


def _grey(
    line: bytes, width: int, samples: int, depth: int, colour: int, palette: bytes
) -> list[int]:
    if depth < 8:
        per_byte, top = 8 // depth, (1 << depth) - 1
        values = [
            (line[i // per_byte] >> (8 - depth * (i % per_byte + 1))) & top for i in range(width)
        ]
        if colour == 3:
            return [sum(palette[3 * v : 3 * v + 3]) // 3 for v in values]
        return [v * 255 // top for v in values]
    pixels = [line[i * samples : (i + 1) * samples] for i in range(width)]
    if colour == 3:
        return [sum(palette[3 * p[0] : 3 * p[0] + 3]) // 3 for p in pixels]
    if colour in (2, 6):
        return [(p[0] * 299 + p[1] * 587 + p[2] * 114) // 1000 for p in pixels]
    return [p[0] for p in pixels]


def write_y4m(path: Path, luma: list[list[int]], width: int = 640, height: int = 480) -> None:
    """A few frames of a white picture with `luma` (grey rows) in its middle, scaled
    by a whole factor to fill about two thirds of the frame (Y4M, 4:2:0)."""
    scale = max(1, min(width, height) * 2 // 3 // max(len(luma), len(luma[0])))
    side_x, side_y = len(luma[0]) * scale, len(luma) * scale
    left, top = (width - side_x) // 2, (height - side_y) // 2
    frame_luma = bytearray(b"\xff" * (width * height))
    for y, row in enumerate(luma):
        line = bytes(v for v in row for _ in range(scale))
        for dy in range(scale):
            start = (top + y * scale + dy) * width + left
            frame_luma[start : start + side_x] = line
    chroma = b"\x80" * (width // 2 * height // 2)
    frame = b"FRAME\n" + bytes(frame_luma) + chroma + chroma
    header = f"YUV4MPEG2 W{width} H{height} F10:1 Ip A1:1 C420jpeg\n".encode()
    path.write_bytes(header + frame * 10)


def modules_luma(modules: list[list[bool]], size: int = 8) -> list[list[int]]:
    """A QR's modules (dark = True) as grey rows, `size` pixels a module."""
    return [
        [0 if dark else 255 for dark in row for _ in range(size)]
        for row in modules
        for _ in range(size)
    ]


async def decode_in_chromium(png: bytes, chromium: str, args: list[str]) -> str | None:
    """The text of the QR in `png`, read by the console's bundled jsQR in Chromium
    (the decoder the scan page uses), or None if it finds none."""
    from playwright.async_api import async_playwright

    src = "data:image/png;base64," + base64.b64encode(png).decode()
    async with async_playwright() as pw:
        browser = await pw.chromium.launch(executable_path=chromium, args=args)
        try:
            page = await browser.new_page()
            await page.set_content("<!DOCTYPE html><title>qr</title>")
            await page.add_script_tag(path=str(JSQR))
            found = await page.evaluate(
                """async (src) => {
                    const img = new Image();
                    img.src = src;
                    await img.decode();
                    const pad = 40;  // a quiet zone around it, as on a phone's screen
                    const canvas = document.createElement("canvas");
                    canvas.width = img.width + 2 * pad;
                    canvas.height = img.height + 2 * pad;
                    const ctx = canvas.getContext("2d");
                    ctx.fillStyle = "#fff";
                    ctx.fillRect(0, 0, canvas.width, canvas.height);
                    ctx.drawImage(img, pad, pad);
                    const data = ctx.getImageData(0, 0, canvas.width, canvas.height);
                    const code = jsQR(data.data, data.width, data.height);
                    return code ? code.data : null;
                }""",
                src,
            )
        finally:
            await browser.close()
    return found
