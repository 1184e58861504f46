"""export and import: a store to and from the files an air gap is crossed with.

An export is written whole or not at all: an archive under a temporary name, renamed when
complete; an import reads the archive in place and writes the store as a pull does.
"""

from __future__ import annotations

from pathlib import Path

from ..errors import StoreError
from ..store import Store
from ..task import ExportSpec, ImportSpec
from ..transports import StoreTransport
from ..transports.files import DirectoryFiles, TarReader, TarWriter
from ..transports.oci import OciTransport
from .engine import Engine, ImageResult
from .plan import selected_images
from .transfer import Run, Selection, Transfer


def writer(format: str, output: Path) -> OciTransport:
    files = DirectoryFiles(output) if format == "oci-layout" else TarWriter(output)
    return OciTransport(files, format)


def reader(path: Path) -> OciTransport:
    """The archive at `path`, its format recognized from its content."""
    if path.is_dir():
        if not (path / "index.json").is_file():
            raise StoreError(f"{path} is not an OCI image layout (no index.json)")
        return OciTransport(DirectoryFiles(path), "oci-layout")
    if not path.is_file():
        raise StoreError(f"{path} does not exist")
    files = TarReader(path)
    if files.exists("manifest.json"):
        return OciTransport(files, "docker-archive")
    if files.exists("index.json"):
        return OciTransport(files, "oci-archive")
    raise StoreError(f"{path} is neither an OCI archive nor a Docker archive")


def export(engine: Engine, spec: ExportSpec) -> list[ImageResult]:
    store = Store(spec.images_dir)
    images = selected_images(store, None, spec.manifests, engine.warn)
    if not images:
        raise StoreError(f"nothing to export: {store.root} holds no image")
    target = writer(spec.format, spec.output)
    run = Run(engine, StoreTransport(store), "export", Selection(spec.platform, spec.policy))
    items = [Transfer(i.reference, i.reference, target, i.manifest) for i in images]
    try:
        results = run.transfer(items)
        if any(result.failed for result in results):
            target.abort()  # whole or nothing, even when the run keeps going
            unwritten = f"not written: {spec.output} is whole or nothing, and an image failed"
            for result in results:
                if not result.failed:
                    result.status, result.error = "cancelled", unwritten
        else:
            target.finish()
    except BaseException:
        target.abort()
        raise
    return results


def import_(engine: Engine, spec: ImportSpec) -> list[ImageResult]:
    source = reader(spec.path)
    target = StoreTransport(Store(spec.images_dir, spec.layout))
    items = [Transfer(i.reference, i.reference, target, i.manifest) for i in source.images()]
    return Run(engine, source, "import").transfer(items)
