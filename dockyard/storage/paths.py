"""The path mapper: the only place a storage path is built.

The layout is the reference registry's (distribution), so either registry can serve a
storage root the other wrote::

    /docker/registry/v2/blobs/<alg>/<first two hex>/<hex>/data
    /docker/registry/v2/repositories/<name>/_layers/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/revisions/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/current/link
    /docker/registry/v2/repositories/<name>/_manifests/tags/<tag>/index/<alg>/<hex>/link
    /docker/registry/v2/repositories/<name>/_uploads/<id>/{data,startedat,hashstates/<alg>/<offset>}

What dockyard adds lives where the reference never looks: per repository under
``_dockyard/`` (the reference skips every ``_``-prefixed folder of a repository), and
registry-wide under ``/docker/registry/v2/_dockyard/``. All of it can be rebuilt from the
layout above.
"""

from __future__ import annotations

from typing import Final

from dockyard.digest import Digest
from dockyard.errors import DigestInvalid

ROOT: Final = "/docker/registry/v2"
BLOBS: Final = f"{ROOT}/blobs"
REPOSITORIES: Final = f"{ROOT}/repositories"
DOCKYARD: Final = f"{ROOT}/_dockyard"


# --- blobs --------------------------------------------------------------------------------


def blob_dir(digest: Digest) -> str:
    return f"{BLOBS}/{digest.algorithm}/{digest.hex[:2]}/{digest.hex}"


def blob_data(digest: Digest) -> str:
    return f"{blob_dir(digest)}/data"


def blob_digest_from_data_path(path: str) -> Digest | None:
    """The digest a ``blobs/.../data`` path belongs to, or None for any other path."""
    parts = path.removeprefix(BLOBS + "/").split("/")
    if len(parts) != 4 or parts[3] != "data" or not parts[2].startswith(parts[1]):
        return None
    try:
        return Digest.parse(f"{parts[0]}:{parts[2]}")
    except (ValueError, DigestInvalid):
        return None


# --- repositories -------------------------------------------------------------------------


def repository(name: str) -> str:
    return f"{REPOSITORIES}/{name}"


def layers_dir(name: str) -> str:
    return f"{repository(name)}/_layers"


def layer_link(name: str, digest: Digest) -> str:
    return f"{layers_dir(name)}/{digest.algorithm}/{digest.hex}/link"


def manifests_dir(name: str) -> str:
    return f"{repository(name)}/_manifests"


def manifest_revisions_dir(name: str) -> str:
    return f"{manifests_dir(name)}/revisions"


def manifest_revision_dir(name: str, digest: Digest) -> str:
    return f"{manifest_revisions_dir(name)}/{digest.algorithm}/{digest.hex}"


def manifest_revision_link(name: str, digest: Digest) -> str:
    return f"{manifest_revision_dir(name, digest)}/link"


def tags_dir(name: str) -> str:
    return f"{manifests_dir(name)}/tags"


def tag_dir(name: str, tag: str) -> str:
    return f"{tags_dir(name)}/{tag}"


def tag_current_link(name: str, tag: str) -> str:
    return f"{tag_dir(name, tag)}/current/link"


def tag_index_dir(name: str, tag: str) -> str:
    return f"{tag_dir(name, tag)}/index"


def tag_index_link(name: str, tag: str, digest: Digest) -> str:
    return f"{tag_index_dir(name, tag)}/{digest.algorithm}/{digest.hex}/link"


# --- uploads ------------------------------------------------------------------------------


def uploads_dir(name: str) -> str:
    return f"{repository(name)}/_uploads"


def upload_dir(name: str, upload_id: str) -> str:
    return f"{uploads_dir(name)}/{upload_id}"


def upload_data(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/data"


def upload_started_at(name: str, upload_id: str) -> str:
    return f"{upload_dir(name, upload_id)}/startedat"


#: The start of the name of a session's commit intent (``upload_commit_intent``).
COMMIT_INTENT_PREFIX: Final = "committing-"


def upload_commit_intent(name: str, upload_id: str, digest: Digest) -> str:
    """The empty file whose name is the digest a commit of the session is publishing
    (dockyard's; the reference ignores unknown files in a session): found after a crash,
    it lets the blob be linked. The name is the content, so the file needs no data made
    durable, only its name."""
    return f"{upload_dir(name, upload_id)}/{COMMIT_INTENT_PREFIX}{digest.algorithm}-{digest.hex}"


def commit_intent_digest(entry: str) -> Digest | None:
    """The digest a session folder's entry names as its commit intent, or None."""
    if not entry.startswith(COMMIT_INTENT_PREFIX):
        return None
    algorithm, _, hex_part = entry.removeprefix(COMMIT_INTENT_PREFIX).partition("-")
    try:
        return Digest.parse(f"{algorithm}:{hex_part}")
    except (ValueError, DigestInvalid):
        return None


def upload_hashstates_dir(name: str, upload_id: str, algorithm: str) -> str:
    return f"{upload_dir(name, upload_id)}/hashstates/{algorithm}"


def upload_hashstate(name: str, upload_id: str, algorithm: str, offset: int) -> str:
    return f"{upload_hashstates_dir(name, upload_id, algorithm)}/{offset}"


# --- dockyard's additions -----------------------------------------------------------------


def repository_extras(name: str) -> str:
    """Per-repository folder for dockyard's own indexes; the reference skips it."""
    return f"{repository(name)}/_dockyard"


def referrers_dir(name: str, subject: Digest) -> str:
    return f"{repository_extras(name)}/referrers/{subject.algorithm}/{subject.hex}"


def referrer_descriptor(name: str, subject: Digest, referrer: Digest) -> str:
    """A referrer's descriptor (JSON), filed under the manifest it refers to."""
    return f"{referrers_dir(name, subject)}/{referrer.algorithm}/{referrer.hex}/descriptor"


def referrers_root(name: str) -> str:
    """Every referrers index entry of a repository (deleted and rewritten by a rebuild)."""
    return f"{repository_extras(name)}/referrers"


def schema1_signed(name: str, digest: Digest) -> str:
    """A schema1 manifest's signed body, as pushed.

    The blob store holds only the canonical payload (as the reference stores it), so the
    pushed signatures are kept here and served again; without this file (a root the
    reference wrote) the registry signs the payload with its own key, as the reference does.
    """
    return f"{repository_extras(name)}/manifests/{digest.algorithm}/{digest.hex}/signed"


def manifest_descriptor(name: str, digest: Digest) -> str:
    """A stored manifest's descriptor (JSON), so a HEAD need not parse the body.

    Written before the revision link; the body stays the source of truth, and a storage
    root written by the reference registry simply lacks these files.
    """
    return f"{repository_extras(name)}/manifests/{digest.algorithm}/{digest.hex}/descriptor"


def layer_dir(name: str, digest: Digest) -> str:
    """The folder of a repository's link to a blob (deleted to unlink it)."""
    return f"{layers_dir(name)}/{digest.algorithm}/{digest.hex}"


def repository_name_of(path: str) -> str | None:
    """The repository a ``repositories/<name>/_<folder>[/...]`` path belongs to, or None."""
    rest = path.removeprefix(REPOSITORIES + "/")
    if rest == path:
        return None
    components = rest.split("/")
    for index, component in enumerate(components):
        if component.startswith("_"):
            return "/".join(components[:index]) or None
    return None


# --- online garbage collection (dockyard's; see docs/collection.md) ------------------------

GC: Final = f"{DOCKYARD}/gc"
#: Holds one marker per running collection (while there is one, writers record) and the
#: journals of what finished collections swept: one listing tells both.
GC_COLLECTING: Final = f"{GC}/collecting"
#: How a sweep journal's name in ``GC_COLLECTING`` starts (a marker's never does).
GC_JOURNAL_PREFIX: Final = "swept-"
GC_LEASE: Final = f"{GC}/lease"
GC_IN_USE: Final = f"{GC}/inuse"
#: The report of the last collection (JSON), for the status page.
GC_LAST_RUN: Final = f"{GC}/last-run.json"
#: The report of the last scrub (JSON), for the status page.
SCRUB_LAST_RUN: Final = f"{DOCKYARD}/scrub/last-run.json"


def gc_marker(collection: str) -> str:
    """The marker of one running collection; its time in storage is the collection's T0."""
    return f"{GC_COLLECTING}/{collection}"


def gc_journal(name: str) -> str:
    """A finished collection's sweep journal (``name`` starts with ``GC_JOURNAL_PREFIX``)."""
    return f"{GC_COLLECTING}/{name}"


def gc_in_use(digest: Digest) -> str:
    """A writer's record that ``digest`` (a blob or a manifest) is in use right now."""
    return f"{GC_IN_USE}/{digest.algorithm}/{digest.hex}"


def condemned_blob(digest: Digest) -> str:
    """A blob's content moved aside by the collector, until it is deleted or restored."""
    return f"{blob_dir(digest)}/condemned"


def condemned_revision_link(name: str, digest: Digest) -> str:
    """A revision link moved aside by the collector (``deleteuntagged``)."""
    return f"{manifest_revision_dir(name, digest)}/condemned"
