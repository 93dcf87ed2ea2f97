"""Ports: what the use cases need from storage, the partners and the node's keys, as
protocols and plain records, one module per area:

- ``holdings``: items, the search index, blobs (the files items carry);
- ``sharing``: parties, agreements, release requests, consents, the reciprocity ledger;
- ``people``: users and tokens;
- ``partners``: peers, outbox, inbox, partner requests, the key ring, the transport;
- ``conversations``: hotline channels and traffic, talks and their events;
- ``tracks``: track feeds, areas, numbers, launch events, alerts;
- ``interop``: STIX objects served over TAXII;
- ``records``: the audit log and its checkpoints;
- ``coordination``: settings and the workers' leases;
- ``unit_of_work``: the transaction that hands out every repository, and ``Conflict``.

``storage`` implements them over SQL; the in-memory twins the unit tests use live under
``tests/twins``, one module per area as here. Every method runs inside the unit of work's
transaction; nothing is visible to others until ``commit``.

Imported by services, the adapters (storage, federation, realtime, tracks) and the node's
composition. Ports import only the domain and ``crypto``. This package re-exports every
name, so ``from liaison.services.ports import ItemRepo`` and
``from liaison.services.ports.holdings import ItemRepo`` name the same class.
"""

from __future__ import annotations

from liaison.services.ports.conversations import HotlineRepo as HotlineRepo
from liaison.services.ports.conversations import TalksEvent as TalksEvent
from liaison.services.ports.conversations import TalksRepo as TalksRepo
from liaison.services.ports.coordination import LeaseRepo as LeaseRepo
from liaison.services.ports.coordination import SettingRepo as SettingRepo
from liaison.services.ports.holdings import BlobPort as BlobPort
from liaison.services.ports.holdings import BlobRecord as BlobRecord
from liaison.services.ports.holdings import BlobRepo as BlobRepo
from liaison.services.ports.holdings import ItemRepo as ItemRepo
from liaison.services.ports.holdings import SearchRepo as SearchRepo
from liaison.services.ports.holdings import StoredItem as StoredItem
from liaison.services.ports.interop import TaxiiObject as TaxiiObject
from liaison.services.ports.interop import TaxiiQuery as TaxiiQuery
from liaison.services.ports.interop import TaxiiRepo as TaxiiRepo
from liaison.services.ports.partners import InboxRecord as InboxRecord
from liaison.services.ports.partners import InboxRepo as InboxRepo
from liaison.services.ports.partners import KeyRing as KeyRing
from liaison.services.ports.partners import LaneState as LaneState
from liaison.services.ports.partners import OutboxMessage as OutboxMessage
from liaison.services.ports.partners import OutboxRepo as OutboxRepo
from liaison.services.ports.partners import PartnerRequest as PartnerRequest
from liaison.services.ports.partners import Peer as Peer
from liaison.services.ports.partners import PeerRepo as PeerRepo
from liaison.services.ports.partners import RequestRepo as RequestRepo
from liaison.services.ports.partners import Transport as Transport
from liaison.services.ports.people import TokenRecord as TokenRecord
from liaison.services.ports.people import TokenRepo as TokenRepo
from liaison.services.ports.people import UserRepo as UserRepo
from liaison.services.ports.records import AuditRepo as AuditRepo
from liaison.services.ports.records import CheckpointRepo as CheckpointRepo
from liaison.services.ports.sharing import AgreementRepo as AgreementRepo
from liaison.services.ports.sharing import ConsentRepo as ConsentRepo
from liaison.services.ports.sharing import LedgerRepo as LedgerRepo
from liaison.services.ports.sharing import PartyRepo as PartyRepo
from liaison.services.ports.sharing import ReleaseRepo as ReleaseRepo
from liaison.services.ports.sharing import StoredConsent as StoredConsent
from liaison.services.ports.tracks import TrackRepo as TrackRepo
from liaison.services.ports.unit_of_work import Conflict as Conflict
from liaison.services.ports.unit_of_work import UnitOfWork as UnitOfWork
