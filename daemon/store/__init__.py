"""
The state store: checkpoints, leases, asset states, media codes, failures and the runs audit.

Import the facade from here: ``from daemon.store import Store``.
"""

from __future__ import annotations

from daemon.store.batch_commit import BatchResult
from daemon.store.clock_readings import DamClockReading
from daemon.store.database import DEFAULT_DATABASE_URL, make_engine
from daemon.store.inbox import InboxAccess
from daemon.store.inbox_admin import DeadEvent, InboxAdmin
from daemon.store.ownership import (
    BrakeFigures,
    OwnedAsset,
    OwnerAction,
    PendingDeletion,
    WithdrawalReason,
    WithdrawnAsset,
)
from daemon.store.pam_progress_store import PamProgressStore
from daemon.store.product_link_store import (
    LinkTarget,
    LinkWant,
    OwnedLink,
    ProductLinkStore,
    WantedLink,
)
from daemon.store.rows import (
    SUCCESS_STATUSES,
    AssetState,
    AssetWrite,
    BackoffPolicy,
    Checkpoint,
    Failure,
    FailureCounts,
    FailureRecord,
    HeldLease,
    Lease,
    LeaseLostError,
    RunCounts,
    RunStatus,
    RunSummary,
    SchemaNotAtHeadError,
    StoreUnavailableError,
)
from daemon.store.state_store import Store
from daemon.store.structure_snapshots import (
    ChannelsSnapshot,
    FamilySnapshot,
    StructureSnapshots,
    pim_identity,
)

__all__ = [
    "DEFAULT_DATABASE_URL",
    "SUCCESS_STATUSES",
    "AssetState",
    "AssetWrite",
    "BackoffPolicy",
    "BatchResult",
    "BrakeFigures",
    "ChannelsSnapshot",
    "Checkpoint",
    "DamClockReading",
    "DeadEvent",
    "Failure",
    "FailureCounts",
    "FailureRecord",
    "FamilySnapshot",
    "HeldLease",
    "InboxAccess",
    "InboxAdmin",
    "Lease",
    "LeaseLostError",
    "LinkTarget",
    "LinkWant",
    "OwnedAsset",
    "OwnedLink",
    "OwnerAction",
    "PamProgressStore",
    "PendingDeletion",
    "ProductLinkStore",
    "RunCounts",
    "RunStatus",
    "RunSummary",
    "SchemaNotAtHeadError",
    "Store",
    "StoreUnavailableError",
    "StructureSnapshots",
    "WantedLink",
    "WithdrawalReason",
    "WithdrawnAsset",
    "make_engine",
    "pim_identity",
]
