"""The render engine: one original's bytes in, one encoded render per target out, from a
single decode. Pure (Pillow only, no I/O), so workers, the server thread and the CLI share it.

The order of work is what keeps it fast without losing detail: every refusal is decided from
the header; a JPEG is decoded DCT-scaled to what the largest target needs; each target is
resampled with LANCZOS from the smallest already-made render that still has at least
`CASCADE_GAP` times its resolution (a 120px thumbnail from the 800px render, not from the
20-megapixel original), else from the decoded original.

It is one module, over the usual size, because the ladder of renders, the two decodes of a
miss and the animation pass share one decode's state; the steps themselves live in
`geometry`, `decode`, `colour`, `resample` and `encode`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass

from PIL import Image

from phizer.base.errors import BadRequest, PhizerError, Undecodable
from phizer.base.formats import CONTENT_TYPE_BY_FORMAT, output_format
from phizer.base.models import Focus, KnownFocus, Picture, Rendered, RenderTarget, SizeSpec
from phizer.config import LimitsConfig, OutputConfig
from phizer.engine import focus, png_chunks
from phizer.engine.colour import to_working_mode
from phizer.engine.decode import (
    DECODE_ERRORS,
    Header,
    decode_scaled,
    eighths_for,
    load,
    opened,
    orientation_of,
    probe,
    stored_box,
    turn,
    turned_box,
)
from phizer.engine.encode import (
    ANIMATION_FORMATS,
    Animation,
    Metadata,
    encode,
    encode_animation,
    photographic,
)
from phizer.engine.geometry import Box, Plan, plan
from phizer.engine.placeholder import MAX_SIDE, encoded
from phizer.engine.resample import resample

__all__ = ["describe", "iter_described", "iter_renders", "probe", "render_all"]

# A render at (about) twice a target's resolution is detailed enough to resample that target
# from: what it loses against the decoded original is far below visible. Not exactly 2:
# rounding makes a 1600px render of a 3088px photo 0.1% short of twice its 800px render.
CASCADE_GAP = 1.9


def render_all(
    data: bytes, targets: Sequence[RenderTarget], output: OutputConfig, limits: LimitsConfig
) -> list[Rendered]:
    """Every target's render at once (the warm job stores them all anyway)."""
    return list(iter_renders(data, targets, output, limits))


def describe(data: bytes, limits: LimitsConfig) -> Picture:
    """The original's `Picture` alone, for an original no job has rendered: decoded as small
    as its placeholder allows (a JPEG at 1/8 scale)."""
    spec = SizeSpec("placeholder", MAX_SIDE, MAX_SIDE, "max")
    target = RenderTarget(spec, "placeholder.png", format="PNG")
    for item in iter_described(data, [target], OutputConfig(), limits):
        if isinstance(item, Picture):
            return item
    raise Undecodable("the original could not be described")


def iter_renders(
    data: bytes,
    targets: Sequence[RenderTarget],
    output: OutputConfig,
    limits: LimitsConfig,
    *,
    awaited: bool = False,
    first_threads: int = 1,
    wanted: Callable[[RenderTarget], bool] | None = None,
) -> Iterator[Rendered]:
    """One render per target, in `targets` order, all from one decode of `data`. Refusals
    (format, pixel and frame caps, crop boxes) are raised before the decode and the first
    render; the first target's render is yielded before the next is resampled.

    `awaited` (serve's miss: a client waits for the first target, the rest is render-ahead):
    decode a JPEG as small as the first target allows, and decode it a second time, bigger,
    only if a later target needs more pixels. A 220px miss then costs what a 220px render
    costs (a 1/4 or 1/8 DCT-scaled decode), not what the 1600px render-ahead needs. Not for
    a progressive JPEG: entropy-decoding its scans is most of any decode of it, so a small
    decode saves the client little and the second decode would cost the worker nearly a
    whole one; it is decoded once, for every target. An animation's first target takes a
    pass over the frames of its own, the rest a second.
    `first_threads`: how many threads the first decode's colour conversion and the first
    target's resampling may use (cores the caller knows to be idle; see `phizer.engine.bands` and
    `phizer.engine.resample`); the rest always take one.

    `wanted` is asked about each target after the first once the first has been yielded
    (so never while a client waits); the targets it turns down are not rendered."""
    for item in iter_described(
        data,
        targets,
        output,
        limits,
        awaited=awaited,
        first_threads=first_threads,
        wanted=wanted,
        describe=False,
    ):
        if isinstance(item, Rendered):
            yield item


def iter_described(
    data: bytes,
    targets: Sequence[RenderTarget],
    output: OutputConfig,
    limits: LimitsConfig,
    *,
    awaited: bool = False,
    first_threads: int = 1,
    wanted: Callable[[RenderTarget], bool] | None = None,
    describe: bool = True,
    focus_sources: Sequence[str] = (),
    known_focus: KnownFocus | None = None,
) -> Iterator[Rendered | Picture]:
    """`iter_renders`, then (with `describe`) the `Picture`: the original's displayed size
    and its placeholder, resampled from the smallest picture already made that shows the
    whole photo (a `max` render, usually), else from the decode; never a decode of its
    own. Last, so no client waits for it.

    `focus_sources` (`[focus] sources`): the cropping sizes place their window around the
    photo's focal point (`engine.focus`), found once, on a copy resampled from a picture the
    job already has, and reported in the `Picture`. `known_focus` is one settled already
    (the original's record, the master's metadata): then nothing is looked for. Without a
    client waiting, the sizes that do not crop are rendered first, so the focal point is
    found on the smallest of them rather than on the decode. Animations are cropped from
    the centre."""
    with opened(data, limits) as (im, header):
        formats = [_output_format(header.format, t) for t in targets]
        plans = [plan(t.size, header.width, header.height, t.crop) for t in targets]
        if header.frames > 1 and any(f in ANIMATION_FORMATS for f in formats):
            jobs = list(zip(targets, formats, plans, strict=True))
            if (not awaited and wanted is None) or len(jobs) == 1:
                yield from _animated(im, header, jobs, output, describe)
                return
            # The client's render from a pass over the frames of its own; the others that are
            # still wanted from a second pass (frames are never all kept: see `_animated`).
            yield from _animated(im, header, jobs[:1], output, describe)
            rest = [j for j in jobs[1:] if wanted is None or wanted(j[0])]
            if rest:
                with opened(data, limits) as (again, header_again):
                    yield from _animated(again, header_again, rest, output)
            return
        first = plans[:1] if awaited and not header.progressive else plans
        if known_focus is None and {"faces", "saliency"} & set(focus_sources):
            # The focal point is looked for on a copy ANALYSIS_SIDE px across: decode at
            # least that much of the photo (faces smaller than that go unseen).
            w, h = header.width, header.height
            first = [*first, Plan((0.0, 0.0, float(w), float(h)), *_analysis_size(w, h))]
        source, meta = _decode_still_or_repaired(
            im, header, data, limits, first, output.keep_metadata, first_threads
        )
        if (source.width, source.height) != (header.width, header.height):
            # The orientation only showed up in the decode (a PNG's late eXIf chunk).
            plans = [plan(t.size, source.width, source.height, t.crop) for t in targets]
        ladder = _Ladder(source)
        photo = photographic(header.format, len(data), header.width * header.height)
        jobs = list(zip(targets, formats, plans, strict=True))
        focuser = _Focuser(
            focus_sources, known_focus, im, header.orientation, ladder, source.width, source.height
        )
        if not awaited and focuser.searching:
            jobs.sort(key=lambda job: _follows_focus(job[0]))  # stable: the rest keep order

        def render(target: RenderTarget, fmt: str, p: Plan, threads: int = 1) -> Rendered:
            if focus_sources and _follows_focus(target):
                p = plan(target.size, source.width, source.height, None, focuser.get())
            image = ladder.render(p, threads)
            encoded = _encode(image, fmt, target, output, meta, photo=photo)
            return _rendered(target, fmt, image, encoded)

        for job in jobs[:1]:
            yield render(*job, threads=first_threads)
        rest = [j for j in jobs[1:] if wanted is None or wanted(j[0])]
        rest_plans = [p for _, _, p in rest]
        if rest and awaited and _finer(ladder.rungs[0], rest_plans):
            ladder.rungs[0] = _redecode(data, limits, rest_plans)
        for job in rest:
            yield render(*job)
        if describe:
            preview = ladder.whole(source.width, source.height, _preview_size)
            focus = focuser.get() if focus_sources else None
            yield Picture(source.width, source.height, encoded(preview), focus, focuser.computed)


def _follows_focus(target: RenderTarget) -> bool:
    return target.crop is None and target.size.follows_focus


class _Focuser:
    """The job's focal point, settled at most once: given (`known`), or looked for the
    first time a cropping size (or the `Picture`) asks, on an analysis copy resampled from
    the smallest picture the ladder holds that shows the whole photo."""

    def __init__(
        self,
        sources: Sequence[str],
        known: KnownFocus | None,
        im: Image.Image,
        orientation: int,
        ladder: _Ladder,
        width: int,
        height: int,
    ) -> None:
        self.sources = tuple(sources)
        self.searching = bool(self.sources) and known is None
        self.computed = False
        self._focus = known.focus if known is not None else None
        # What the file says is read now, from the header: the decode may drop it.
        reads_file = self.searching and "metadata" in self.sources
        self._file = focus.from_file(im, orientation) if reads_file else None
        self._ladder, self._width, self._height = ladder, width, height

    def get(self) -> Focus | None:
        if self.searching:
            self.searching = False
            self.computed = True
            self._focus = focus.find(self.sources, file_focus=self._file, image=self._analysis)
        return self._focus

    def _analysis(self) -> Image.Image:
        return self._ladder.whole(self._width, self._height, _analysis_size)


def _analysis_size(width: int, height: int) -> tuple[int, int]:
    """The focal point's analysis copy: the photo's shape, ANALYSIS_SIDE px across at most."""
    return _within(width, height, focus.ANALYSIS_SIDE)


def _within(width: int, height: int, side: int) -> tuple[int, int]:
    scale = min(side / width, side / height, 1.0)
    return max(1, round(width * scale)), max(1, round(height * scale))


def _preview_size(width: int, height: int) -> tuple[int, int]:
    """The placeholder's input: the photo's shape, MAX_SIDE px on its longer side at most."""
    return _within(width, height, MAX_SIDE)


def _finer(decoded: _Rung, rest: Sequence[Plan]) -> bool:
    """Whether the targets still to render would be decoded with more pixels than the
    `decoded` original has. Asked of the decode made, not of the one planned: a JPEG that
    simplejpeg leaves to Pillow (CMYK, a file it faults) was decoded at Pillow's next step
    up, which may cover them already; anything but a JPEG is decoded in full."""
    most = max((p.scale for p in rest), default=0.0)
    return eighths_for(most) / 8 > decoded.scale + 1e-9


def _redecode(data: bytes, limits: LimitsConfig, plans: Sequence[Plan]) -> _Rung:
    """The original decoded again, for `plans` (Pillow decodes an image object once)."""
    with opened(data, limits) as (im, again):
        source, _ = _decode_still(im, data, again, plans, keep_metadata=False)
    return source.rung


@dataclass(frozen=True)
class _Rung:
    """A picture of the displayed region `box`, whose pixels `region` of `image` hold once
    `image` is turned as `orientation` asks (the decoded original is kept as stored: see
    `resample`)."""

    box: Box
    image: Image.Image
    region: Box
    orientation: int = 1

    @property
    def scale(self) -> float:
        return min(
            (self.region[2] - self.region[0]) / (self.box[2] - self.box[0]),
            (self.region[3] - self.region[1]) / (self.box[3] - self.box[1]),
        )

    @property
    def displayed_size(self) -> tuple[int, int]:
        w, h = self.image.size
        return (h, w) if self.orientation >= 5 else (w, h)

    def covers(self, box: Box) -> bool:
        eps = 1e-6
        return (
            self.box[0] - eps <= box[0]
            and self.box[1] - eps <= box[1]
            and box[2] <= self.box[2] + eps
            and box[3] <= self.box[3] + eps
        )

    def locate(self, box: Box) -> Box:
        """Where the displayed `box` lies in this rung's image, once turned."""
        sx = (self.region[2] - self.region[0]) / (self.box[2] - self.box[0])
        sy = (self.region[3] - self.region[1]) / (self.box[3] - self.box[1])
        w, h = self.displayed_size
        return (
            max(0.0, self.region[0] + (box[0] - self.box[0]) * sx),
            max(0.0, self.region[1] + (box[1] - self.box[1]) * sy),
            min(float(w), self.region[0] + (box[2] - self.box[0]) * sx),
            min(float(h), self.region[1] + (box[3] - self.box[1]) * sy),
        )

    def resample(self, box: Box, size: tuple[int, int], threads: int = 1) -> Image.Image:
        """The displayed `box` at `size`, upright. A photo stored turned (most phones' portrait
        shots) is resampled as stored and each render turned after: a turn costs time in
        proportion to the pixels it moves, and a render has a few times fewer than the
        decode (`scripts/bench-tags` compares turned photos with the same photos untagged).
        Pillow resamples in two passes with 8-bit rounding between them, and picks which
        goes first by their cost, so turning first or last can put the passes in the other
        order: the same picture, but a hard edge where LANCZOS overshoots (1-pixel white
        lines, say) may differ by a few levels, as it may between two sizes of one photo."""
        region = self.locate(box)
        if self.orientation == 1:
            return resample(self.image, region, size, threads)
        stored = stored_box(self.orientation, region, *self.displayed_size)
        stored_size = (size[1], size[0]) if self.orientation >= 5 else size
        return turn(resample(self.image, stored, stored_size, threads), self.orientation)


@dataclass(frozen=True)
class _Source:
    """The decoded original in a working mode, as big as `width` x `height` displayed pixels
    (its image may be smaller after a DCT-scaled decode, and is turned only in renders)."""

    rung: _Rung
    width: int
    height: int


class _Ladder:
    """The decoded original plus every render made from it so far (unencoded), so each new
    target resamples from the smallest picture that is still detailed enough."""

    def __init__(self, source: _Source) -> None:
        self.rungs = [source.rung]

    def whole(
        self, width: int, height: int, sized: Callable[[int, int], tuple[int, int]]
    ) -> Image.Image:
        """The whole photo at `sized(width, height)`, from the smallest rung that shows it
        all in enough detail (the decode when no render does: every size was a crop)."""
        box: Box = (0.0, 0.0, float(width), float(height))
        size = sized(width, height)
        need = CASCADE_GAP * size[0] / width
        usable = [r for r in self.rungs[1:] if r.covers(box) and r.scale >= need]
        rung = min(usable, key=lambda r: r.scale) if usable else self.rungs[0]
        return rung.resample(box, size)

    def render(self, p: Plan, threads: int = 1) -> Image.Image:
        usable = [r for r in self.rungs[1:] if r.covers(p.box) and r.scale >= CASCADE_GAP * p.scale]
        rung = min(usable, key=lambda r: r.scale) if usable else self.rungs[0]
        image = rung.resample(p.box, (p.width, p.height), threads)
        self.rungs.append(_Rung(p.box, image, (0, 0, image.width, image.height)))
        return image


def _decode_still(
    im: Image.Image,
    data: bytes,
    header: Header,
    plans: Sequence[Plan],
    keep_metadata: bool,
    threads: int = 1,
) -> tuple[_Source, Metadata]:
    """Decode `im` (opened from `data`) once, DCT-scaled for the most demanding plan, in
    sRGB (an embedded profile applied on `threads` threads)."""
    decoded, region = decode_scaled(im, data, max((p.scale for p in plans), default=1.0))
    orientation = orientation_of(im)
    meta = _metadata(im) if keep_metadata else Metadata()
    working = to_working_mode(decoded, threads)
    region = turned_box(orientation, region, working.width, working.height)
    width, height = _displayed(im, header, orientation)
    rung = _Rung((0, 0, width, height), working, region, orientation)
    return _Source(rung, width, height), meta


def _decode_still_or_repaired(
    im: Image.Image,
    header: Header,
    data: bytes,
    limits: LimitsConfig,
    plans: Sequence[Plan],
    keep_metadata: bool,
    threads: int,
) -> tuple[_Source, Metadata]:
    """`_decode_still`, and for a PNG refused during the decode over chunks a browser skips
    (text after the pixel data, which Pillow reads only then: a text bomb, say), the same
    from a copy without them (`png_chunks`; `opened` does this for what opening reads)."""
    try:
        return _decode_still(im, data, header, plans, keep_metadata, threads)
    except Undecodable:
        repaired = png_chunks.without_skippable_chunks(data) if header.format == "PNG" else None
        if repaired is None:
            raise
    with opened(repaired, limits) as (again, header_again):
        return _decode_still(again, repaired, header_again, plans, keep_metadata, threads)


def _displayed(im: Image.Image, header: Header, orientation: int) -> tuple[int, int]:
    """The original's displayed size, from the header (the decode may be DCT-scaled)."""
    if orientation == header.orientation:
        return header.width, header.height
    stored = (
        (header.height, header.width) if header.orientation >= 5 else (header.width, header.height)
    )
    return (stored[1], stored[0]) if orientation >= 5 else stored


def _animated(
    im: Image.Image,
    header: Header,
    jobs: Sequence[tuple[RenderTarget, str, Plan]],
    output: OutputConfig,
    describe: bool = False,
) -> Iterator[Rendered | Picture]:
    """Every frame resampled for the jobs that keep the animation (GIF, WebP); the others
    get the first frame. Frames are decoded one at a time and only their renders kept, so
    memory is bounded by the frame cap times the render sizes; every job's renders come from
    that one pass, so none is out before the last frame is resampled for all of them."""
    animate = [fmt in ANIMATION_FORMATS for _, fmt, _ in jobs]
    renders: list[list[Image.Image]] = [[] for _ in jobs]
    durations: list[int] = []
    preview = None
    for index in range(header.frames):
        frame = _frame(im, index, header.orientation)
        durations.append(int(im.info.get("duration", 100)))
        if index == 0 and describe:  # the first frame stands for the animation
            whole = (0.0, 0.0, float(frame.width), float(frame.height))
            preview = resample(frame, whole, _preview_size(header.width, header.height))
            # (Animations are cropped from the centre: no focal point is looked for.)
        for k, (_, _, p) in enumerate(jobs):
            if index == 0 or animate[k]:
                scale = (frame.width / header.width, frame.height / header.height)
                box = (
                    p.box[0] * scale[0],
                    p.box[1] * scale[1],
                    p.box[2] * scale[0],
                    p.box[3] * scale[1],
                )
                renders[k].append(resample(frame, box, (p.width, p.height)))
    loop = im.info.get("loop")
    timing = Animation(tuple(durations), int(loop) if loop is not None else None)
    for (target, fmt, _), frames, moving in zip(jobs, renders, animate, strict=True):
        if moving:
            data = _encode_animation(frames, fmt, target, timing)
        else:
            data = _encode(frames[0], fmt, target, output, Metadata())
        yield _rendered(target, fmt, frames[0], data)
    if preview is not None:
        yield Picture(header.width, header.height, encoded(preview))


def _frame(im: Image.Image, index: int, orientation: int) -> Image.Image:
    """Frame `index` as Pillow composites it (earlier frames' disposal applied), RGBA and
    upright."""
    try:
        im.seek(index)
    except DECODE_ERRORS as exc:
        raise Undecodable(f"cannot decode frame {index + 1}: {exc}") from None
    load(im)
    frame = to_working_mode(im)
    if frame.mode != "RGBA":
        frame = frame.convert("RGBA")
    return turn(frame, orientation)


def _metadata(im: Image.Image) -> Metadata:
    """The original's EXIF minus its orientation (the pixels are upright now)."""
    try:
        exif = im.getexif()
        exif.pop(0x0112, None)
        data = exif.tobytes() if len(exif) else None
    except DECODE_ERRORS:
        data = None  # unreadable EXIF is dropped, not a reason to fail
    return Metadata(exif=data, srgb=True)


def _encode(
    image: Image.Image,
    fmt: str,
    target: RenderTarget,
    output: OutputConfig,
    meta: Metadata,
    *,
    photo: bool = False,
) -> bytes:
    # An encoder failure (a WebP over 16383px, say) is phizer's, not the original's: a 500
    # with the encoder's reason.
    try:
        return encode(image, fmt, target.size, output.canvas, meta, photo=photo)
    except DECODE_ERRORS as exc:
        raise PhizerError(f"cannot encode {target.key}: {exc}") from None


def _encode_animation(
    frames: Sequence[Image.Image], fmt: str, target: RenderTarget, timing: Animation
) -> bytes:
    try:
        return encode_animation(frames, fmt, target.size, timing)
    except DECODE_ERRORS as exc:
        raise PhizerError(f"cannot encode {target.key}: {exc}") from None


def _rendered(target: RenderTarget, fmt: str, image: Image.Image, data: bytes) -> Rendered:
    return Rendered(target.key, data, CONTENT_TYPE_BY_FORMAT[fmt], image.width, image.height)


def _output_format(original: str, target: RenderTarget) -> str:
    fmt = target.format or output_format(original)
    if fmt not in CONTENT_TYPE_BY_FORMAT:
        raise BadRequest(f"cannot render {target.key} as {fmt}")
    return fmt
