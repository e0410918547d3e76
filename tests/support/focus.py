"""Photos with a known subject off centre, for the focal-point tests and benchmark: Grace
Hopper's portrait (tests/edgecases' hopper.jpg, a US Navy photograph in the public domain)
or a bright block, pasted on a plain, graded or textured background at a known place."""

from __future__ import annotations

import io
import random
from pathlib import Path

from PIL import Image, ImageFilter

Box = tuple[int, int, int, int]
BACKGROUND = (120, 140, 160)


def hopper(edgecases: Path) -> Image.Image:
    with Image.open(edgecases / "hopper.jpg") as im:
        return im.convert("RGB")


def background(size: tuple[int, int], kind: str, seed: int = 0) -> Image.Image:
    if kind == "plain":
        return Image.new("RGB", size, BACKGROUND)
    if kind == "graded":
        ramp = Image.linear_gradient("L").resize(size).point(lambda v: 60 + v // 3)
        return Image.merge("RGB", (ramp, ramp, ramp.point(lambda v: min(255, v + 40))))
    rng = random.Random(seed)  # "textured": soft blotches, like foliage or a wall
    image = Image.new("RGB", size, (90, 110, 80))
    for _ in range(60):
        x, y = rng.randrange(size[0]), rng.randrange(size[1])
        r = rng.randrange(10, 60)
        shade = (rng.randrange(60, 130), rng.randrange(80, 140), rng.randrange(50, 110))
        image.paste(shade, (x - r, y - r, x + r, y + r))
    return image.filter(ImageFilter.GaussianBlur(6))


def composed(
    subject: Image.Image,
    size: tuple[int, int],
    where: tuple[float, float],
    kind: str,
    seed: int = 0,
) -> tuple[Image.Image, Box]:
    """`subject` pasted with its centre at `where` (fractions) on a background: the photo and
    the subject's box in its pixels."""
    photo = background(size, kind, seed)
    w, h = subject.size
    x = min(max(0, round(where[0] * size[0] - w / 2)), size[0] - w)
    y = min(max(0, round(where[1] * size[1] - h / 2)), size[1] - h)
    photo.paste(subject, (x, y))
    return photo, (x, y, x + w, y + h)


def jpeg(image: Image.Image, **extra: object) -> bytes:
    out = io.BytesIO()
    image.save(out, "JPEG", quality=90, **extra)
    return out.getvalue()


def mwg_xmp(box: tuple[float, float, float, float], dims: tuple[int, int] | None = None) -> bytes:
    """XMP with one MWG face region over `box` (fractions), as Lightroom writes it."""
    x1, y1, x2, y2 = box
    applied = (
        f'<mwg-rs:AppliedToDimensions stDim:w="{dims[0]}" stDim:h="{dims[1]}" stDim:unit="pixel"/>'
        if dims
        else ""
    )
    return f"""<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF
 xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">
 <rdf:Description rdf:about=""
  xmlns:mwg-rs="http://www.metadataworkinggroup.com/schemas/regions/"
  xmlns:stArea="http://ns.adobe.com/xmp/sType/Area#"
  xmlns:stDim="http://ns.adobe.com/xap/1.0/sType/Dimensions#">
  <mwg-rs:Regions rdf:parseType="Resource">{applied}
   <mwg-rs:RegionList><rdf:Bag><rdf:li rdf:parseType="Resource">
    <mwg-rs:Type>Face</mwg-rs:Type><mwg-rs:Name>Someone</mwg-rs:Name>
    <mwg-rs:Area stArea:x="{(x1 + x2) / 2}" stArea:y="{(y1 + y2) / 2}"
     stArea:w="{x2 - x1}" stArea:h="{y2 - y1}" stArea:unit="normalized"/>
   </rdf:li></rdf:Bag></mwg-rs:RegionList>
  </mwg-rs:Regions>
 </rdf:Description></rdf:RDF></x:xmpmeta>""".encode()


def kept(window: tuple[float, float, float, float], box: Box, share: float = 0.9) -> bool:
    """Whether a crop window keeps the subject: at least `share` of its box."""
    ix = max(0.0, min(window[2], box[2]) - max(window[0], box[0]))
    iy = max(0.0, min(window[3], box[3]) - max(window[1], box[1]))
    return ix * iy >= share * (box[2] - box[0]) * (box[3] - box[1])
