"""Payload codec and RECOMPRESS level, measured on realistic API bodies (issue 13).

Why: `otel_traces_payloads` keeps headers and bodies under the table's default codec
ZSTD(1) and a RECOMPRESS TTL moves parts older than 7 days to ZSTD(9). On datagen's
synthetic bodies (mostly random digits) ZSTD(9) came out 3.6 % *larger*, so the level was
never judged on data like a connector's: JSON pages of CRM records with the same keys on
every record, prefixed ids, timestamps, enums and cursors. This bench generates such
traffic (seeded, offline, nothing copied from anywhere), loads the same rows into copies
of the real payload table, each changed only by ALTER statements (the exact DDL a
migration would run), merges them and compares bytes on disk, per-column ratios, insert
and merge CPU and a one-span payload read, side by side against today's schema.

    python -m bench.payloads [--smoke] [--rows N] [--reads N] [--data-dir DIR]

The run in docs/performance.md: `--rows 60000 --reads 60 --data-dir /dev/shm/payloads` (tmpfs:
a shared disk makes part creation, not compression, the slowest step). Sizes are exact; CPU
and read times are medians of a shared machine, compared within the run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import string
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Final, TypeVar

from bench.common import (
    DATA_DIR,
    SMOKE_DIR_ENV,
    CpuTimer,
    clickhouse_version,
    console,
    median,
    pct,
    ratio,
    table,
    write_results,
)
from bench.storage import column_stats
from connlog.collector.config import Retention
from connlog.collector.schema import names as n
from connlog.collector.schema.ddl import COLD_CODEC, HOT_CODEC, payload_days
from connlog.instrumentation.semconv import redacted

# --------------------------------------------------------------------------- generation
# Kinds of payload, one per API shape; the test checks each shape.
HUBSPOT_LIST: Final = "hubspot_list"  # CRM v3 object list page: results[] + paging.next.after
HUBSPOT_RECORD: Final = "hubspot_record"  # one CRM object
HUBSPOT_BATCH: Final = "hubspot_batch"  # batch upsert: inputs[] -> results[]
STRIPE_LIST: Final = "stripe_list"  # {"object": "list", "data": [...], "has_more"}
STRIPE_OBJECT: Final = "stripe_object"  # one customer / charge
SALESFORCE_QUERY: Final = "salesforce_query"  # SOQL page: records[] + nextRecordsUrl
SALESFORCE_UPDATE: Final = "salesforce_update"  # PATCH sobject: request body, 204 empty
NETSUITE_RECORD: Final = "netsuite_record"  # REST record with links and item sublist
NETSUITE_SUITEQL: Final = "netsuite_suiteql"  # SuiteQL page: items[] + hasMore
GRAPHQL: Final = "graphql"  # GraphQL connection page (data.<conn>.edges[], pageInfo)
ERROR: Final = "error"  # {"error": {"code", "message", ...}}
WEBHOOK: Final = "webhook"  # small incoming event (Stripe event or HubSpot change list)
KINDS: Final = (
    HUBSPOT_LIST,
    HUBSPOT_RECORD,
    HUBSPOT_BATCH,
    STRIPE_LIST,
    STRIPE_OBJECT,
    SALESFORCE_QUERY,
    SALESFORCE_UPDATE,
    NETSUITE_RECORD,
    NETSUITE_SUITEQL,
    GRAPHQL,
    ERROR,
    WEBHOOK,
)
MAX_BODY: Final = 20_000  # list pages are cut to stay within 0.2-20 KB, like real page limits

_B62: Final = string.digits + string.ascii_letters
_B62_TABLE: Final = bytes((_B62 * 5)[:256], "ascii")  # random byte -> base62 character
_T = TypeVar("_T")
Record = dict[str, Any]  # one JSON object as built before encoding
_FIRST: Final = (
    "James Mary Robert Patricia John Jennifer Michael Linda David Elizabeth William Barbara Richard Susan "
    "Joseph Jessica Thomas Sarah Carlos Karen Daniel Lisa Matthew Nancy Anthony Sandra Mark Ashley Paul "
    "Emily Steven Kimberly Andrew Donna Kenneth Michelle Joshua Carol Kevin Amanda Brian Melissa Priya "
    "Wei Fatima Luca Sofia Hiroshi Amara Mateo Chloe Noah Ines Olga Yusuf"
).split()
_LAST: Final = (
    "Smith Johnson Williams Brown Jones Garcia Miller Davis Rodriguez Martinez Hernandez Lopez Gonzalez "
    "Wilson Anderson Thomas Taylor Moore Jackson Martin Lee Perez Thompson White Harris Sanchez Clark "
    "Ramirez Lewis Robinson Walker Young Allen King Wright Scott Torres Nguyen Hill Flores Green Adams "
    "Nelson Baker Hall Rivera Campbell Mitchell Carter Roberts Okafor Schmidt Rossi Dubois Tanaka Kowalski"
).split()
_CO_A: Final = (
    "Acme Globex Initech Umbrella Stark Wayne Hooli Vandelay Soylent Cyberdyne Tyrell Aperture Wonka "
    "Gringotts Oceanic Pied Massive Dunder Prestige Sterling Blue Northwind Contoso Fabrikam Tailspin "
    "Litware Proseware Adventure Alpine Coho"
).split()
_CO_B: Final = (
    "Corp Inc LLC Industries Labs Systems Group Holdings Partners Logistics Analytics Foods Health "
    "Energy Capital Software Robotics Media Retail Supply"
).split()
_DOMAINS: Final = ("gmail.com", "yahoo.com", "outlook.com", "icloud.com", "proton.me", "hotmail.com")
_CITIES: Final = (
    ("San Francisco", "CA", "US", "94105"),
    ("New York", "NY", "US", "10001"),
    ("Austin", "TX", "US", "73301"),
    ("Chicago", "IL", "US", "60601"),
    ("Seattle", "WA", "US", "98101"),
    ("Boston", "MA", "US", "02108"),
    ("Denver", "CO", "US", "80202"),
    ("London", "", "GB", "EC1A 1BB"),
    ("Berlin", "", "DE", "10115"),
    ("Paris", "", "FR", "75001"),
    ("Toronto", "ON", "CA", "M5H 2N2"),
    ("Sydney", "NSW", "AU", "2000"),
)
_STREETS: Final = "Main Oak Pine Maple Cedar Elm Market Mission Broadway Park Lake Hill Church High".split()
_WORDS: Final = (
    "customer renewal contract signed pending review follow up call scheduled next week discount "
    "requested pricing updated invoice sent overdue payment received shipped partial order delayed "
    "warehouse priority account manager onboarding trial extended upgrade plan enterprise annual "
    "monthly seats added removed integration issue resolved support ticket escalated legal approval "
    "procurement budget quarter forecast pipeline qualified demo completed proposal feedback positive "
    "negative churn risk expansion opportunity referral partner reseller region north south east west "
    "the a of to and for with on by from per as"
).split()
_INDUSTRIES: Final = (
    "Technology",
    "Finance",
    "Healthcare",
    "Retail",
    "Manufacturing",
    "Education",
    "Media",
    "Energy",
    "Transportation",
    "Hospitality",
)
_LIFECYCLE: Final = (
    "subscriber",
    "lead",
    "marketingqualifiedlead",
    "salesqualifiedlead",
    "opportunity",
    "customer",
)
_LEAD_STATUS: Final = ("NEW", "OPEN", "IN_PROGRESS", "OPEN_DEAL", "UNQUALIFIED", "ATTEMPTED_TO_CONTACT", None)
_DEAL_STAGES: Final = (
    "appointmentscheduled",
    "qualifiedtobuy",
    "presentationscheduled",
    "closedwon",
    "closedlost",
)
_CURRENCIES: Final = ("usd", "usd", "usd", "eur", "gbp", "cad", "aud")
_CHARGE_STATUS: Final = ("succeeded", "succeeded", "succeeded", "pending", "failed")
_CARD_BRANDS: Final = ("visa", "mastercard", "amex", "discover")
_SO_STATUS: Final = (
    ("A", "Pending Approval"),
    ("B", "Pending Fulfillment"),
    ("D", "Partially Fulfilled"),
    ("F", "Pending Billing"),
    ("G", "Billed"),
)
_ORDER_FIN: Final = ("PAID", "PAID", "PENDING", "PARTIALLY_REFUNDED", "REFUNDED", "AUTHORIZED")
_ORDER_FUL: Final = ("FULFILLED", "UNFULFILLED", "PARTIALLY_FULFILLED")
_PRODUCTS: Final = (
    "Classic Tee",
    "Hoodie",
    "Running Shoes",
    "Water Bottle",
    "Backpack",
    "Desk Lamp",
    "Coffee Beans 1kg",
    "Yoga Mat",
    "Wireless Mouse",
    "USB-C Cable",
    "Notebook A5",
    "Ceramic Mug",
)


_DAYS: dict[int, str] = {}


def _day(ts: float) -> str:
    """YYYY-MM-DD of a Unix time (cached: strftime was a third of the generation time)."""
    d = int(ts // 86400)
    s = _DAYS.get(d)
    if s is None:
        s = _DAYS[d] = datetime.fromtimestamp(d * 86400, UTC).strftime("%Y-%m-%d")
    return s


def _clock(ts: float) -> str:
    sec = int(ts % 86400)
    return f"{sec // 3600:02d}:{sec // 60 % 60:02d}:{sec % 60:02d}"


def _iso(ts: float, ms: bool = True) -> str:
    frac = f".{int(ts * 1000) % 1000:03d}Z" if ms else "Z"
    return f"{_day(ts)}T{_clock(ts)}{frac}"


def _sf_time(ts: float) -> str:
    return f"{_day(ts)}T{_clock(ts)}.000+0000"


def _us_date(ts: float) -> str:
    d = _day(ts)
    return f"{d[5:7]}/{d[8:10]}/{d[:4]}"


_HTTP_DAYS: dict[int, str] = {}


def _http_date(ts: float) -> str:
    d = int(ts // 86400)
    s = _HTTP_DAYS.get(d)
    if s is None:
        s = _HTTP_DAYS[d] = datetime.fromtimestamp(d * 86400, UTC).strftime("%a, %d %b %Y")
    return f"{s} {_clock(ts)} GMT"


def _dumps(doc: Any) -> str:
    # Compact, as APIs send it (most JSON APIs do not pretty-print).
    return json.dumps(doc, separators=(",", ":"))


@dataclass
class Payload:
    """One HTTP span's payload row, as the collector would store it."""

    kind: str
    service: str
    trace_id: str
    span_id: str
    ts_ns: int
    request_headers: dict[str, str]
    response_headers: dict[str, str]
    request_body: str
    response_body: str


@dataclass
class _Tenant:
    """What is constant within one tenant's account: hosts, account ids, owners."""

    name: str
    host: str
    account: str
    owners: list[str]
    next_id: int


@dataclass
class _Call:
    kind: str
    method: str
    path: str
    status: int
    request_body: str = ""
    response_body: str = ""
    extra_response_headers: dict[str, str] = field(default_factory=dict)
    incoming: bool = False


class _Gen:
    """Seeded value factory: ids, people, companies and the per-vendor record shapes."""

    def __init__(self, rng: random.Random) -> None:
        self.r = rng

    # -- primitives (hand-rolled on random(): Random.choice/randint were half the run time)
    def pick(self, seq: Sequence[_T]) -> _T:
        return seq[int(self.r.random() * len(seq))]

    def between(self, lo: int, hi: int) -> int:
        return lo + int(self.r.random() * (hi - lo + 1))

    def b62(self, k: int) -> str:
        return self.r.getrandbits(8 * k).to_bytes(k, "little").translate(_B62_TABLE).decode()

    def hexs(self, k: int) -> str:
        return f"{self.r.getrandbits(4 * k):0{k}x}"

    def uuid(self) -> str:
        return str(uuid.UUID(int=self.r.getrandbits(128), version=4))

    def person(self) -> tuple[str, str, str]:
        first, last = self.pick(_FIRST), self.pick(_LAST)
        sep = self.pick((".", "", "_"))
        if self.r.random() < 0.6:
            dom = self.company_domain(self.company())
        else:
            dom = self.pick(_DOMAINS)
        return (
            first,
            last,
            f"{first.lower()}{sep}{last.lower()}{self.pick(('', '', str(self.between(1, 99))))}@{dom}",
        )

    def company(self) -> str:
        return f"{self.pick(_CO_A)} {self.pick(_CO_B)}"

    def company_domain(self, company: str) -> str:
        return company.split()[0].lower() + self.pick((".com", ".io", ".co", ".net"))

    def phone(self) -> str:
        return f"+1{self.between(200, 999)}{self.between(200, 999)}{self.between(1000, 9999)}"

    def text(self, lo: int, hi: int) -> str:
        return " ".join(self.r.choices(_WORDS, k=self.between(lo, hi))).capitalize() + "."

    def city(self) -> tuple[str, str, str, str]:
        return self.pick(_CITIES)

    def street(self) -> str:
        return f"{self.between(1, 9999)} {self.pick(_STREETS)} {self.pick(('St', 'Ave', 'Blvd', 'Rd'))}"

    def amount(self) -> int:
        return (
            self.pick((900, 1900, 2900, 4900, 9900, 19900))
            if self.r.random() < 0.4
            else self.between(100, 500_000)
        )

    def past(self, now: float, days: float = 900) -> float:
        return now - self.r.random() * days * 86400

    # -- HubSpot
    def hubspot_contact(self, rid: int, now: float, tenant: _Tenant) -> dict[str, Any]:
        first, _last, email = self.person()
        created = self.past(now)
        updated = min(now, created + self.r.random() * 400 * 86400)
        city = self.city()
        props: dict[str, Any] = {
            "city": city[0],
            "company": self.company(),
            "createdate": _iso(created),
            "email": email,
            "firstname": first,
            "hs_lead_status": self.pick(_LEAD_STATUS),
            "hs_object_id": str(rid),
            "hubspot_owner_id": self.pick(tenant.owners),
            "jobtitle": self.pick(("CEO", "CTO", "VP Sales", "Engineer", "Buyer", "Office Manager", None)),
            "lastmodifieddate": _iso(updated),
            "lifecyclestage": self.pick(_LIFECYCLE),
            "phone": self.phone() if self.r.random() < 0.7 else None,
            "state": city[1] or None,
        }
        if self.r.random() < 0.3:
            props["notes_last_contacted"] = _iso(self.past(now, 60))
        return {
            "id": str(rid),
            "properties": props,
            "createdAt": _iso(created),
            "updatedAt": _iso(updated),
            "archived": False,
        }

    def hubspot_deal(self, rid: int, now: float, tenant: _Tenant) -> dict[str, Any]:
        created = self.past(now, 400)
        updated = min(now, created + self.r.random() * 90 * 86400)
        return {
            "id": str(rid),
            "properties": {
                "amount": str(self.amount() // 100),
                "closedate": _iso(created + self.between(5, 120) * 86400),
                "createdate": _iso(created),
                "dealname": f"{self.company()} - {self.pick(('Renewal', 'New Business', 'Upsell', 'Pilot'))}",
                "dealstage": self.pick(_DEAL_STAGES),
                "hs_lastmodifieddate": _iso(updated),
                "hs_object_id": str(rid),
                "hubspot_owner_id": self.pick(tenant.owners),
                "pipeline": "default",
            },
            "createdAt": _iso(created),
            "updatedAt": _iso(updated),
            "archived": False,
        }

    # -- Stripe
    def stripe_customer(self, now: float) -> dict[str, Any]:
        first, last, email = self.person()
        city = self.city()
        has_addr = self.r.random() < 0.6
        return {
            "id": "cus_" + self.b62(14),
            "object": "customer",
            "address": {
                "city": city[0],
                "country": city[2],
                "line1": self.street(),
                "line2": None,
                "postal_code": city[3],
                "state": city[1] or None,
            }
            if has_addr
            else None,
            "balance": 0 if self.r.random() < 0.9 else -self.amount(),
            "created": int(self.past(now)),
            "currency": self.pick(_CURRENCIES),
            "default_source": None,
            "delinquent": self.r.random() < 0.05,
            "description": self.text(3, 10) if self.r.random() < 0.2 else None,
            "discount": None,
            "email": email,
            "invoice_prefix": self.hexs(8).upper(),
            "invoice_settings": {
                "custom_fields": None,
                "default_payment_method": "pm_" + self.b62(24) if self.r.random() < 0.7 else None,
                "footer": None,
                "rendering_options": None,
            },
            "livemode": True,
            "metadata": {"crm_id": str(self.between(10**9, 10**11))} if self.r.random() < 0.5 else {},
            "name": f"{first} {last}",
            "next_invoice_sequence": self.between(1, 60),
            "phone": self.phone() if self.r.random() < 0.5 else None,
            "preferred_locales": [self.pick(("en", "en-US", "fr", "de"))] if self.r.random() < 0.3 else [],
            "shipping": None,
            "tax_exempt": "none",
            "test_clock": None,
        }

    def stripe_charge(self, now: float) -> dict[str, Any]:
        amount = self.amount()
        status = self.pick(_CHARGE_STATUS)
        brand = self.pick(_CARD_BRANDS)
        created = int(self.past(now, 30))
        _, _, email = self.person()
        return {
            "id": "ch_" + self.b62(24),
            "object": "charge",
            "amount": amount,
            "amount_captured": amount if status == "succeeded" else 0,
            "amount_refunded": 0,
            "balance_transaction": "txn_" + self.b62(24) if status == "succeeded" else None,
            "billing_details": {"address": {"country": self.city()[2]}, "email": email, "name": None},
            "captured": status == "succeeded",
            "created": created,
            "currency": self.pick(_CURRENCIES),
            "customer": "cus_" + self.b62(14),
            "description": f"Invoice {self.hexs(8).upper()}-{self.between(1, 40):04d}",
            "failure_code": "card_declined" if status == "failed" else None,
            "failure_message": "Your card was declined." if status == "failed" else None,
            "invoice": "in_" + self.b62(24),
            "livemode": True,
            "metadata": {},
            "outcome": {
                "network_status": "approved_by_network" if status != "failed" else "declined_by_network",
                "risk_level": "normal",
                "risk_score": self.between(0, 80),
                "seller_message": "Payment complete."
                if status != "failed"
                else "The bank did not return any further details.",
                "type": "authorized" if status != "failed" else "issuer_declined",
            },
            "paid": status == "succeeded",
            "payment_intent": "pi_" + self.b62(24),
            "payment_method": "pm_" + self.b62(24),
            "payment_method_details": {
                "card": {
                    "brand": brand,
                    "checks": {
                        "address_line1_check": None,
                        "address_postal_code_check": "pass",
                        "cvc_check": "pass",
                    },
                    "country": "US",
                    "exp_month": self.between(1, 12),
                    "exp_year": self.between(2026, 2032),
                    "fingerprint": self.b62(16),
                    "funding": self.pick(("credit", "debit")),
                    "last4": f"{self.between(0, 9999):04d}",
                    "network": brand,
                },
                "type": "card",
            },
            "receipt_url": f"https://pay.stripe.com/receipts/invoices/{self.b62(60)}",
            "refunded": False,
            "status": status,
        }

    # -- Salesforce
    def sf_id(self, prefix: str) -> str:
        return prefix + "5g0000" + self.b62(9)

    def salesforce_account(self, now: float) -> dict[str, Any]:
        rid = self.sf_id("001")
        city = self.city()
        created = self.past(now)
        return {
            "attributes": {"type": "Account", "url": f"/services/data/v59.0/sobjects/Account/{rid}"},
            "Id": rid,
            "Name": self.company(),
            "Industry": self.pick(_INDUSTRIES),
            "Type": self.pick(("Customer - Direct", "Customer - Channel", "Prospect", "Partner")),
            "BillingStreet": self.street(),
            "BillingCity": city[0],
            "BillingState": city[1] or None,
            "BillingPostalCode": city[3],
            "BillingCountry": city[2],
            "Phone": self.phone() if self.r.random() < 0.8 else None,
            "Website": f"https://www.{self.company_domain(self.company())}",
            "AnnualRevenue": float(self.between(1, 5000) * 10000) if self.r.random() < 0.6 else None,
            "NumberOfEmployees": self.between(1, 20000) if self.r.random() < 0.7 else None,
            "OwnerId": self.sf_id("005"),
            "CreatedDate": _sf_time(created),
            "LastModifiedDate": _sf_time(min(now, created + self.r.random() * 300 * 86400)),
            "SystemModstamp": _sf_time(min(now, created + self.r.random() * 300 * 86400)),
            "IsDeleted": False,
            "External_Id__c": str(self.between(10**6, 10**8)),
        }

    # -- NetSuite
    def ns_link(self, host: str, path: str) -> list[dict[str, str]]:
        return [{"rel": "self", "href": f"https://{host}/services/rest/record/v1/{path}"}]

    def netsuite_sales_order(self, rid: int, now: float, tenant: _Tenant) -> dict[str, Any]:
        cust = self.between(1000, 99999)
        status = self.pick(_SO_STATUS)
        lines = []
        total = 0.0
        for i in range(self.between(1, 8)):
            qty = self.between(1, 20)
            rate = round(self.r.uniform(5, 500), 2)
            item_id = self.between(100, 5000)
            total += qty * rate
            lines.append(
                {
                    "links": [],
                    "amount": round(qty * rate, 2),
                    "item": {
                        "links": self.ns_link(tenant.host, f"inventoryItem/{item_id}"),
                        "id": str(item_id),
                        "refName": self.pick(_PRODUCTS),
                    },
                    "line": i + 1,
                    "quantity": float(qty),
                    "rate": rate,
                    "taxCode": {"id": "-7", "refName": "-Not Taxable-"},
                }
            )
        day = _day(self.past(now, 60))
        return {
            "links": self.ns_link(tenant.host, f"salesOrder/{rid}"),
            "createdDate": _iso(self.past(now, 60), ms=False),
            "currency": {"links": self.ns_link(tenant.host, "currency/1"), "id": "1", "refName": "USA"},
            "entity": {
                "links": self.ns_link(tenant.host, f"customer/{cust}"),
                "id": str(cust),
                "refName": f"{cust} {self.company()}",
            },
            "id": str(rid),
            "item": {"links": [], "items": lines, "totalResults": len(lines)},
            "lastModifiedDate": _iso(self.past(now, 5), ms=False),
            "memo": self.text(2, 8) if self.r.random() < 0.3 else None,
            "orderStatus": {"id": status[0], "refName": status[1]},
            "status": {"id": status[1], "refName": status[1]},
            "subsidiary": {
                "links": self.ns_link(tenant.host, "subsidiary/1"),
                "id": "1",
                "refName": "Parent Company",
            },
            "subtotal": round(total, 2),
            "total": round(total, 2),
            "tranDate": day,
            "tranId": f"SO{rid % 100000:05d}",
            "custbody_connector_sync_id": self.uuid() if self.r.random() < 0.5 else None,
        }

    def netsuite_customer_row(self, rid: int, now: float) -> dict[str, Any]:
        first, last, email = self.person()
        return {
            "links": [],
            "id": str(rid),
            "companyname": self.company(),
            "email": email,
            "entityid": f"{rid} {first} {last}",
            "lastmodifieddate": _us_date(self.past(now, 30)),
            "balance": str(round(self.r.uniform(0, 20000), 2)) if self.r.random() < 0.5 else "0",
            "isinactive": "F",
            "terms": self.pick(("2", "4", None)),
        }

    # -- Shopify-style GraphQL
    def shopify_order(self, now: float) -> dict[str, Any]:
        oid = self.between(5 * 10**12, 6 * 10**12)
        _, _, email = self.person()
        items = [
            {
                "node": {
                    "id": f"gid://shopify/LineItem/{self.between(10**13, 2 * 10**13)}",
                    "title": self.pick(_PRODUCTS),
                    "quantity": self.between(1, 4),
                    "sku": f"SKU-{self.between(1000, 9999)}",
                    "originalUnitPriceSet": {
                        "shopMoney": {"amount": f"{self.between(5, 200)}.00", "currencyCode": "USD"}
                    },
                }
            }
            for _ in range(self.between(1, 4))
        ]
        return {
            "id": f"gid://shopify/Order/{oid}",
            "name": f"#{self.between(1000, 99999)}",
            "createdAt": _iso(self.past(now, 30), ms=False),
            "updatedAt": _iso(self.past(now, 2), ms=False),
            "displayFinancialStatus": self.pick(_ORDER_FIN),
            "displayFulfillmentStatus": self.pick(_ORDER_FUL),
            "email": email,
            "totalPriceSet": {"shopMoney": {"amount": f"{self.amount() / 100:.2f}", "currencyCode": "USD"}},
            "customer": {"id": f"gid://shopify/Customer/{self.between(6 * 10**12, 7 * 10**12)}"},
            "lineItems": {"edges": items},
        }


class _Connector:
    """One connector (service): the calls its runs make, with its tenants' hosts and headers."""

    service: str = ""
    host_fmt: str = ""

    def __init__(self, g: _Gen, tenants: int) -> None:
        self.g = g
        self.tenants = [self._tenant(i) for i in range(tenants)]

    def _tenant(self, i: int) -> _Tenant:
        name = self.g.company().split()[0].lower() + str(i)
        account = str(self.g.between(10**6, 10**8))
        return _Tenant(
            name=name,
            host=self.host_fmt.format(name=name, account=account),
            account=account,
            owners=[str(self.g.between(10**7, 10**9)) for _ in range(6)],
            next_id=self.g.between(10**9, 10**11),
        )

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        raise NotImplementedError

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        return {}

    def request_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        return {}

    def error(self, status: int) -> _Call:
        """{"error": {...}} bodies: rate limits, validation and server errors."""
        g = self.g
        code, message = {
            400: ("invalid_request", f"Property values were not valid: {g.text(4, 10)}"),
            401: ("unauthorized", "Authentication credentials not found or expired."),
            404: ("not_found", f"Object not found. objectId are usually numeric: {g.between(10**9, 10**11)}"),
            409: ("conflict", f"Contact already exists. Existing ID: {g.between(10**9, 10**11)}"),
            429: ("rate_limited", "You have reached your secondly limit."),
            500: ("internal_error", "An internal error occurred. Please retry the request."),
            502: ("bad_gateway", "The server received an invalid response from an upstream server."),
        }[status]
        err: Record = {
            "code": code,
            "message": message,
            "type": "api_error" if status >= 500 else "invalid_request_error",
            "request_id": "req_" + g.b62(14),
            "doc_url": f"https://docs.example-api.com/errors#{code}",
            "correlation_id": g.uuid(),
        }
        doc = {"error": err}
        if status == 400:
            err["errors"] = [
                {"field": g.pick(("email", "phone", "amount", "closedate")), "reason": "INVALID_FORMAT"}
            ]
        extra = {"retry-after": str(g.between(1, 10))} if status == 429 else {}
        return _Call(ERROR, "GET", "/", status, response_body=_dumps(doc), extra_response_headers=extra)


def _page(
    make: Callable[[], Record], count: int, wrap: Callable[[list[Record]], Any]
) -> tuple[str, list[Record]]:
    """A page of up to `count` records whose body stays within MAX_BODY, as APIs cap pages."""
    records: list[Record] = []
    size = 400  # the envelope around the records
    while len(records) < count:
        rec = make()
        size += len(_dumps(rec)) + 1
        if size > MAX_BODY and records:
            break
        records.append(rec)
    return _dumps(wrap(records)), records


class _HubSpot(_Connector):
    service = "hubspot-connector"
    host_fmt = "api.hubapi.com"

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        obj = g.pick(("contacts", "contacts", "deals"))
        make_one = g.hubspot_contact if obj == "contacts" else g.hubspot_deal
        pages = g.between(1, 8)
        limit = g.pick((10, 10, 20, 50))
        after = None
        for p in range(pages):
            last = p == pages - 1

            def make() -> Record:
                tenant.next_id += g.between(1, 40)
                return make_one(tenant.next_id, now, tenant)

            def wrap(records: list[Record], last: bool = last) -> Record:
                doc: Record = {"results": records}
                if not last:
                    nxt = str(int(records[-1]["id"]) + 1)
                    doc["paging"] = {
                        "next": {
                            "after": nxt,
                            "link": f"https://api.hubapi.com/crm/v3/objects/{obj}?after={nxt}",
                        }
                    }
                return doc

            q = f"?limit={limit}&archived=false" + (f"&after={after}" if after else "")
            body, records = _page(make, limit, wrap)
            yield _Call(HUBSPOT_LIST, "GET", f"/crm/v3/objects/{obj}{q}", 200, response_body=body)
            after = str(int(records[-1]["id"]) + 1)
            if g.r.random() < 0.15:
                yield self.error(429)
        for _ in range(g.between(0, 6)):
            rid = tenant.next_id + g.between(0, 1000)
            rec = g.hubspot_contact(rid, now, tenant)
            yield _Call(
                HUBSPOT_RECORD, "GET", f"/crm/v3/objects/contacts/{rid}", 200, response_body=_dumps(rec)
            )
        if g.r.random() < 0.6:
            n_in = g.between(1, 12)
            inputs = []
            results = []
            for _ in range(n_in):
                rid = tenant.next_id + g.between(0, 10**5)
                rec = g.hubspot_contact(rid, now, tenant)
                props = {
                    k: v
                    for k, v in rec["properties"].items()
                    if v is not None and k not in ("hs_object_id", "createdate")
                }
                inputs.append({"idProperty": "email", "id": props["email"], "properties": props})
                results.append({**rec, "new": g.r.random() < 0.3})
            started = now - g.r.random() * 2
            resp = {
                "status": "COMPLETE",
                "results": results,
                "startedAt": _iso(started),
                "completedAt": _iso(started + 0.4),
            }
            req = _dumps({"inputs": inputs})
            yield _Call(HUBSPOT_BATCH, "POST", f"/crm/v3/objects/{obj}/batch/upsert", 200, req, _dumps(resp))
            if g.r.random() < 0.2:
                yield self.error(g.pick((400, 409)))

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        g = self.g
        return {
            "x-hubspot-ratelimit-daily": "250000",
            "x-hubspot-ratelimit-daily-remaining": str(g.between(100000, 250000)),
            "x-hubspot-ratelimit-interval-milliseconds": "10000",
            "x-hubspot-ratelimit-max": "190",
            "x-hubspot-ratelimit-remaining": str(g.between(0, 190)),
            "x-hubspot-correlation-id": g.uuid(),
            "x-trace": "2B" + g.hexs(40).upper(),
            "cf-ray": f"{g.hexs(16)}-{g.pick(('IAD', 'SJC', 'FRA', 'CDG'))}",
            "cf-cache-status": "DYNAMIC",
            "server": "cloudflare",
        }


class _Stripe(_Connector):
    service = "stripe-connector"
    host_fmt = "api.stripe.com"

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        obj = g.pick(("customers", "charges"))
        make = g.stripe_customer if obj == "customers" else g.stripe_charge
        limit = g.pick((10, 10, 25))
        after = None
        pages = g.between(1, 8)
        for p in range(pages):
            more = p < pages - 1

            def wrap(records: list[Record], more: bool = more) -> Record:
                return {"object": "list", "data": records, "has_more": more, "url": f"/v1/{obj}"}

            q = f"?limit={limit}" + (f"&starting_after={after}" if after else "")
            body, records = _page(lambda: make(now), limit, wrap)
            yield _Call(STRIPE_LIST, "GET", f"/v1/{obj}{q}", 200, response_body=body)
            after = records[-1]["id"]
        for _ in range(g.between(0, 5)):
            doc = make(now)
            if g.r.random() < 0.5:
                req = f"email={doc.get('email') or ''}&metadata[crm_id]={g.between(10**9, 10**11)}"
                yield _Call(STRIPE_OBJECT, "POST", f"/v1/{obj}/{doc['id']}", 200, req, _dumps(doc))
            else:
                yield _Call(STRIPE_OBJECT, "GET", f"/v1/{obj}/{doc['id']}", 200, response_body=_dumps(doc))
        if g.r.random() < 0.1:
            yield self.error(g.pick((400, 404, 500)))

    def request_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        h = {"stripe-version": "2024-06-20", "stripe-account": "acct_" + tenant.account}
        if call.method == "POST":
            h["idempotency-key"] = self.g.uuid()
            h["content-type"] = "application/x-www-form-urlencoded"
        return h

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        g = self.g
        return {
            "request-id": "req_" + g.b62(14),
            "stripe-version": "2024-06-20",
            "access-control-allow-credentials": "true",
            "access-control-allow-methods": "GET,HEAD,PUT,PATCH,POST,DELETE",
            "access-control-allow-origin": "*",
            "access-control-expose-headers": "Request-Id, Stripe-Manage-Version, Stripe-Should-Retry, X-Stripe-External-Auth-Required, X-Stripe-Privileged-Session-Required",
            "access-control-max-age": "300",
            "cache-control": "no-cache, no-store",
            "content-security-policy": "base-uri 'none'; default-src 'none'; form-action 'none'; frame-ancestors 'none'; img-src 'self'; script-src 'self' 'report-sample'; style-src 'self'",
            "server": "nginx",
            "x-stripe-routing-context-priority-tier": "api-testmode"
            if g.r.random() < 0.01
            else "livemode-critical",
        }


class _Salesforce(_Connector):
    service = "salesforce-connector"
    host_fmt = "{name}.my.salesforce.com"

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        pages = g.between(1, 8)
        total = pages * 200
        locator = "01g" + g.b62(12)
        for p in range(pages):
            done = p == pages - 1

            def wrap(records: list[Record], done: bool = done, p: int = p) -> Record:
                doc: Record = {"totalSize": total, "done": done}
                if not done:
                    doc["nextRecordsUrl"] = f"/services/data/v59.0/query/{locator}-{(p + 1) * 200}"
                doc["records"] = records
                return doc

            path = (
                "/services/data/v59.0/query?q=SELECT+Id,Name,Industry,Type,BillingStreet,BillingCity,BillingState,"
                "BillingPostalCode,BillingCountry,Phone,Website,AnnualRevenue,NumberOfEmployees,OwnerId,CreatedDate,"
                "LastModifiedDate,SystemModstamp,IsDeleted,External_Id__c+FROM+Account+WHERE+SystemModstamp+%3E+LAST_N_DAYS:1"
                if p == 0
                else f"/services/data/v59.0/query/{locator}-{p * 200}"
            )
            body, _ = _page(lambda: g.salesforce_account(now), g.pick((5, 10, 20, 50)), wrap)
            yield _Call(SALESFORCE_QUERY, "GET", path, 200, response_body=body)
        for _ in range(g.between(0, 8)):
            rid = g.sf_id("001")
            update = {
                "Name": g.company(),
                "Industry": g.pick(_INDUSTRIES),
                "Phone": g.phone(),
                "External_Id__c": str(g.between(10**6, 10**8)),
                "Description": g.text(5, 30),
            }
            yield _Call(
                SALESFORCE_UPDATE,
                "PATCH",
                f"/services/data/v59.0/sobjects/Account/{rid}",
                204,
                _dumps(update),
            )
        if g.r.random() < 0.1:
            yield self.error(g.pick((400, 401, 500)))

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        g = self.g
        return {
            "sforce-limit-info": f"api-usage={g.between(1000, 90000)}/100000",
            "x-content-type-options": "nosniff",
            "x-robots-tag": "none",
            "x-xss-protection": "1; mode=block",
            "strict-transport-security": "max-age=63072000; includeSubDomains",
            "vary": "Accept-Encoding",
            "x-request-id": g.b62(22),
        }


class _NetSuite(_Connector):
    service = "netsuite-connector"
    host_fmt = "{account}.suitetalk.api.netsuite.com"

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        pages = g.between(1, 6)
        total = pages * 500
        for p in range(pages):
            has_more = p < pages - 1

            def make() -> Record:
                tenant.next_id += 1
                return g.netsuite_customer_row(tenant.next_id, now)

            def wrap(items: list[Record], has_more: bool = has_more, p: int = p) -> Record:
                nxt = f"https://{tenant.host}/services/rest/query/v1/suiteql?limit=500&offset={(p + 1) * 500}"
                return {
                    "links": [{"rel": "next", "href": nxt}] if has_more else [],
                    "count": len(items),
                    "hasMore": has_more,
                    "items": items,
                    "offset": p * 500,
                    "totalResults": total,
                }

            req = _dumps(
                {
                    "q": "SELECT id, companyname, email, entityid, lastmodifieddate, balance, isinactive, terms FROM customer WHERE lastmodifieddate >= ? ORDER BY id"
                }
            )
            body, _ = _page(make, g.pick((10, 25, 100)), wrap)
            yield _Call(
                NETSUITE_SUITEQL,
                "POST",
                f"/services/rest/query/v1/suiteql?limit=500&offset={p * 500}",
                200,
                req,
                body,
            )
        for _ in range(g.between(1, 10)):
            rid = g.between(10**4, 10**6)
            doc = g.netsuite_sales_order(rid, now, tenant)
            yield _Call(
                NETSUITE_RECORD,
                "GET",
                f"/services/rest/record/v1/salesOrder/{rid}?expandSubResources=true",
                200,
                response_body=_dumps(doc),
            )
        if g.r.random() < 0.15:
            yield self.error(g.pick((400, 429, 502)))

    def request_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        return {"prefer": "transient"} if call.kind == NETSUITE_SUITEQL else {}

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        g = self.g
        return {
            "ns_rtimer_composite": f"{g.between(10**8, 10**9)}:{g.hexs(24)}:80",
            "p3p": 'CP="CAO PSAa OUR BUS PUR"',
            "vary": "User-Agent",
            "x-n-operationid": g.uuid(),
            "x-netsuite-jobid": g.hexs(12),
            "strict-transport-security": "max-age=31536000",
        }


class _Shopify(_Connector):
    service = "shopify-connector"
    host_fmt = "{name}.myshopify.com"
    QUERY: Final = (
        "query Orders($cursor: String, $query: String) { orders(first: $first, after: $cursor, query: $query, "
        "sortKey: UPDATED_AT) { edges { cursor node { id name createdAt updatedAt displayFinancialStatus "
        "displayFulfillmentStatus email totalPriceSet { shopMoney { amount currencyCode } } customer { id } "
        "lineItems(first: 10) { edges { node { id title quantity sku originalUnitPriceSet { shopMoney { amount "
        "currencyCode } } } } } } } pageInfo { hasNextPage endCursor } } }"
    )

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        cursor = None
        first = g.pick((5, 10, 25))
        pages = g.between(1, 10)
        for p in range(pages):
            more = p < pages - 1

            def wrap(edges: list[Record], more: bool = more) -> Record:
                page_info = {"hasNextPage": more, "endCursor": edges[-1]["cursor"]}
                throttle = {
                    "maximumAvailable": 2000.0,
                    "currentlyAvailable": float(g.between(200, 2000)),
                    "restoreRate": 100.0,
                }
                cost = {
                    "requestedQueryCost": first * 6 + 2,
                    "actualQueryCost": len(edges) * 6 + 2,
                    "throttleStatus": throttle,
                }
                return {
                    "data": {"orders": {"edges": edges, "pageInfo": page_info}},
                    "extensions": {"cost": cost},
                }

            req = _dumps(
                {
                    "query": self.QUERY,
                    "variables": {
                        "first": first,
                        "cursor": cursor,
                        "query": f"updated_at:>'{_iso(now - 86400, ms=False)}'",
                    },
                }
            )
            body, edges = _page(lambda: {"cursor": g.b62(48), "node": g.shopify_order(now)}, first, wrap)
            yield _Call(GRAPHQL, "POST", "/admin/api/2024-10/graphql.json", 200, req, body)
            cursor = edges[-1]["cursor"]
            if g.r.random() < 0.08:
                throttled = {
                    "errors": [
                        {
                            "message": "Throttled",
                            "extensions": {
                                "code": "THROTTLED",
                                "documentation": "https://shopify.dev/api/usage/rate-limits",
                            },
                        }
                    ],
                    "extensions": {
                        "cost": {
                            "requestedQueryCost": first * 6 + 2,
                            "actualQueryCost": None,
                            "throttleStatus": {
                                "maximumAvailable": 2000.0,
                                "currentlyAvailable": float(g.between(0, 100)),
                                "restoreRate": 100.0,
                            },
                        }
                    },
                }
                yield _Call(GRAPHQL, "POST", "/admin/api/2024-10/graphql.json", 200, req, _dumps(throttled))

    def request_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        return {"x-shopify-access-token": redacted("header")}

    def response_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        g = self.g
        return {
            "x-request-id": g.uuid(),
            "x-shopid": str(g.between(10**7, 10**8)),
            "x-shardid": str(g.between(0, 300)),
            "x-sorting-hat-podid": str(g.between(0, 300)),
            "x-shopify-api-version": "2024-10",
            "server-timing": f"processing;dur={g.between(20, 900)}, db;dur={g.between(5, 300)}",
            "cf-ray": f"{g.hexs(16)}-{g.pick(('IAD', 'ORD', 'YYZ'))}",
            "server": "cloudflare",
        }


class _Webhooks(_Connector):
    """Incoming webhooks: the body is the request; the response is tiny or empty."""

    service = "webhook-receiver"
    host_fmt = "hooks.connlog-demo.example"

    def run(self, tenant: _Tenant, now: float) -> Iterator[_Call]:
        g = self.g
        for _ in range(g.between(1, 6)):
            if g.r.random() < 0.5:
                ch = g.stripe_charge(now)
                for k in ("payment_method_details", "outcome", "billing_details"):
                    ch.pop(k)
                evt = {
                    "id": "evt_" + g.b62(24),
                    "object": "event",
                    "api_version": "2024-06-20",
                    "created": int(now),
                    "data": {"object": ch},
                    "livemode": True,
                    "pending_webhooks": 1,
                    "request": {"id": "req_" + g.b62(14), "idempotency_key": g.uuid()},
                    "type": "charge." + ch["status"],
                }
                yield _Call(
                    WEBHOOK,
                    "POST",
                    "/webhooks/stripe",
                    200,
                    _dumps(evt),
                    _dumps({"received": True}),
                    incoming=True,
                )
            else:
                events = [
                    {
                        "eventId": g.between(10**9, 5 * 10**9),
                        "subscriptionId": g.between(10**6, 10**7),
                        "portalId": int(tenant.account),
                        "appId": 1234567,
                        "occurredAt": int(now * 1000) - g.between(0, 60000),
                        "subscriptionType": g.pick(
                            ("contact.propertyChange", "contact.creation", "deal.propertyChange")
                        ),
                        "attemptNumber": 0,
                        "objectId": g.between(10**9, 10**11),
                        "propertyName": g.pick(("email", "lifecyclestage", "dealstage", "amount")),
                        "propertyValue": g.pick(_LIFECYCLE),
                        "changeSource": g.pick(("CRM", "API", "INTEGRATION")),
                        "sourceId": f"userId:{g.between(10**6, 10**8)}",
                    }
                    for _ in range(g.between(1, 4))
                ]
                yield _Call(WEBHOOK, "POST", "/webhooks/hubspot", 204, _dumps(events), "", incoming=True)

    def request_headers(self, tenant: _Tenant, call: _Call) -> dict[str, str]:
        return (
            {"stripe-signature": redacted("header")}
            if call.path.endswith("stripe")
            else {
                "x-hubspot-signature-v3": redacted("header"),
                "x-hubspot-request-timestamp": str(self.g.between(10**12, 2 * 10**12)),
            }
        )


# Share of runs per connector (webhook deliveries are many small "runs").
_MIX: Final = ((_HubSpot, 3), (_Stripe, 2), (_Salesforce, 2), (_NetSuite, 1), (_Shopify, 2), (_Webhooks, 2))
_UA: Final = "connlog-connector/1.4.2 python-httpx/0.27.2"


def _headers(
    conn: _Connector, tenant: _Tenant, call: _Call, ts: float
) -> tuple[dict[str, str], dict[str, str]]:
    g = conn.g
    if call.incoming:
        req = {
            "host": conn.tenants[0].host,
            "user-agent": "Stripe/1.0 (+https://stripe.com/docs/webhooks)"
            if "stripe" in call.path
            else "HubSpot Connect 2.0 (http://dev.hubspot.com/)",
            "content-type": "application/json; charset=utf-8",
            "content-length": str(len(call.request_body)),
            "accept": "*/*; q=0.5, application/xml",
            "x-forwarded-for": f"{g.between(3, 54)}.{g.between(0, 255)}.{g.between(0, 255)}.{g.between(1, 254)}",
            "x-forwarded-proto": "https",
        }
        resp = {
            "content-type": "application/json",
            "content-length": str(len(call.response_body)),
            "date": _http_date(ts),
        }
    else:
        req = {
            "host": tenant.host,
            "accept": "application/json",
            "accept-encoding": "gzip, deflate",
            "connection": "keep-alive",
            "user-agent": _UA,
            "authorization": redacted("header"),
            "x-connlog-run": g.hexs(32),
        }
        if call.request_body:
            req["content-type"] = "application/json"
            req["content-length"] = str(len(call.request_body))
        resp = {
            "date": _http_date(ts),
            "content-type": "application/json;charset=utf-8",
            "content-length": str(len(call.response_body)),
            "connection": "keep-alive",
        }
    req.update(conn.request_headers(tenant, call))
    resp.update(conn.response_headers(tenant, call))
    resp.update(call.extra_response_headers)
    return req, resp


def generate(
    rows: int, *, seed: int = 13, end_s: float = 1_790_000_000.0, days: float = 14.0
) -> list[Payload]:
    """`rows` payload rows, run by run, time-ordered over `days` ending at `end_s`.

    A run is one trace of one connector: its paginated list calls (cursors chained from the
    previous page), single-record reads, writes and the odd error, one span each. Bodies
    and ids differ on every call; keys, enums and hosts repeat, as in real traffic.
    """
    rng = random.Random(seed)
    g = _Gen(rng)
    conns = [(cls(g, tenants=rng.randint(3, 8)), w) for cls, w in _MIX]
    weights = [w for _, w in conns]
    out: list[Payload] = []
    start = end_s - days * 86400
    while len(out) < rows:
        conn = rng.choices([c for c, _ in conns], weights)[0]
        tenant = rng.choice(conn.tenants)
        trace_id = g.hexs(32)
        # A run starts where its first row falls in the window, so rows spread evenly over it.
        t = start + (end_s - start - 3600) * len(out) / rows
        for call in conn.run(tenant, t):
            if len(out) >= rows:
                break
            t += rng.uniform(0.05, 0.9)
            req_h, resp_h = _headers(conn, tenant, call, t)
            out.append(
                Payload(
                    kind=call.kind,
                    service=conn.service,
                    trace_id=trace_id,
                    span_id=g.hexs(16),
                    ts_ns=int(t * 1e9),
                    request_headers=req_h,
                    response_headers=resp_h,
                    request_body=call.request_body,
                    response_body=call.response_body,
                )
            )
    return out


# --------------------------------------------------------------------------- variants
RETENTION: Final = Retention()  # today's defaults: RECOMPRESS after 7 days, payloads kept 30
TTL_TIME: Final = "toDateTime(Timestamp)"
PAYLOAD_COLUMNS: Final = (n.C_REQUEST_HEADERS, n.C_RESPONSE_HEADERS, n.C_REQUEST_BODY, n.C_RESPONSE_BODY)
_COLUMN_TYPES: Final = {
    n.C_REQUEST_HEADERS: "Map(LowCardinality(String), String)",
    n.C_RESPONSE_HEADERS: "Map(LowCardinality(String), String)",
    n.C_REQUEST_BODY: "String",
    n.C_RESPONSE_BODY: "String",
}
BIG_BLOCKS: Final = "min_compress_block_size = 1048576, max_compress_block_size = 4194304"


def ttl(cold_codec: str | None) -> str:
    """The payload table's TTL as `apply_retention` writes it, with `cold_codec` (None: no RECOMPRESS)."""
    delete = f"{TTL_TIME} + toIntervalDay({payload_days(RETENTION)})"
    if cold_codec is None:
        return delete
    return f"{TTL_TIME} + toIntervalDay({RETENTION.recompress_days}) RECOMPRESS CODEC({cold_codec}), {delete}"


def _hot(codec: str) -> str:
    return f"ALTER TABLE {{t}} MODIFY SETTING default_compression_codec = '{codec}'"


def _ttl(cold_codec: str | None) -> str:
    return f"ALTER TABLE {{t}} MODIFY TTL {ttl(cold_codec)}"


@dataclass(frozen=True)
class Variant:
    """A copy of today's payload table changed by `ddl` ({t} = the copy), i.e. one migration."""

    key: str
    label: str
    ddl: tuple[str, ...] = ()
    cold: str | None = None  # codec the old partitions should end in (checked in system.parts)


TODAY: Final = Variant("today", f"{HOT_CODEC} -> {COLD_CODEC} (today)", (), COLD_CODEC)
VARIANTS: Final[tuple[Variant, ...]] = (
    TODAY,
    Variant("zstd1", "ZSTD(1)", (_ttl(None),)),
    Variant("zstd3", "ZSTD(3)", (_hot("ZSTD(3)"), _ttl(None))),
    Variant("zstd6", "ZSTD(6)", (_hot("ZSTD(6)"), _ttl(None))),
    Variant("zstd9", "ZSTD(9)", (_hot("ZSTD(9)"), _ttl(None))),
    Variant("zstd12", "ZSTD(12)", (_hot("ZSTD(12)"), _ttl(None))),
    Variant("lz4", "LZ4", (_hot("LZ4"), _ttl(None))),
    Variant("lz4hc9", "LZ4HC(9)", (_hot("LZ4HC(9)"), _ttl(None))),
    Variant("r12", "ZSTD(1) -> ZSTD(12)", (_ttl("ZSTD(12)"),), "ZSTD(12)"),
    Variant("r19", "ZSTD(1) -> ZSTD(19)", (_ttl("ZSTD(19)"),), "ZSTD(19)"),
    Variant(
        "explicit",
        "CODEC(ZSTD) on columns -> ZSTD(12)",
        (
            *tuple(
                f"ALTER TABLE {{t}} MODIFY COLUMN {c} {_COLUMN_TYPES[c]} CODEC(ZSTD)" for c in PAYLOAD_COLUMNS
            ),
            _ttl("ZSTD(12)"),
        ),
        "ZSTD(12)",
    ),
    Variant("big1", "ZSTD(1), 4 MB blocks", (f"ALTER TABLE {{t}} MODIFY SETTING {BIG_BLOCKS}", _ttl(None))),
    Variant(
        "big_r12",
        "ZSTD(1), 4 MB blocks -> ZSTD(12)",
        (f"ALTER TABLE {{t}} MODIFY SETTING {BIG_BLOCKS}", _ttl("ZSTD(12)")),
        "ZSTD(12)",
    ),
)
SMOKE_SKIP: Final = frozenset({"r19"})  # ZSTD(19) alone would take most of the smoke budget

# The one schema change checked end to end (`verify_candidate`): rendered with {t} = the
# payload table and applied, as `apply_retention` applies TTL changes, to today's schema holding
# data. It is the cheapest change that shrinks old payloads; the full run (docs/performance.md)
# found it not worth its merge CPU, so today's schema stays. Change it to check another.
CANDIDATE: Final[tuple[str, ...]] = (_ttl("ZSTD(12)"),)
CANDIDATE_MATCHES: Final = "r12"  # the variant whose size the candidate must reproduce


# --------------------------------------------------------------------------- database
DB: Final = "pl"
STAGE: Final = "pl_stage"
CANDIDATE_DB: Final = "pl_candidate"
_COLS: Final = (n.C_TIMESTAMP, n.C_TRACE_ID, n.C_SPAN_ID, n.C_SERVICE_NAME, *PAYLOAD_COLUMNS)
_SELECT: Final = (
    f"fromUnixTimestamp64Nano(TsNs) AS {n.C_TIMESTAMP}, {n.C_TRACE_ID}, {n.C_SPAN_ID}, {n.C_SERVICE_NAME}, "
    + ", ".join(PAYLOAD_COLUMNS)
)


def _settings(data_dir: Path, database: str) -> Any:
    from connlog.collector.config import Settings

    return Settings(data_dir=data_dir, database=database, retention=RETENTION)


def _client(data_dir: Path, database: str) -> Any:
    from connlog.collector.store import connect

    return connect(_settings(data_dir, database))


def stage(client: Any, rows: Sequence[Payload], batch: int = 5_000) -> None:
    """The generated rows in a plain LZ4 table, in time order (Seq), for every copy to read."""
    client.command(f"DROP DATABASE IF EXISTS {STAGE} SYNC")
    client.command(f"CREATE DATABASE {STAGE}")
    client.command(
        f"CREATE TABLE {STAGE}.stage (Seq UInt32, TsNs Int64, {n.C_TRACE_ID} String, {n.C_SPAN_ID} String,"
        f" {n.C_SERVICE_NAME} LowCardinality(String), {n.C_REQUEST_HEADERS} Map(LowCardinality(String), String),"
        f" {n.C_RESPONSE_HEADERS} Map(LowCardinality(String), String), {n.C_REQUEST_BODY} String,"
        f" {n.C_RESPONSE_BODY} String) ENGINE = MergeTree ORDER BY Seq"
    )
    names = ["Seq", "TsNs", n.C_TRACE_ID, n.C_SPAN_ID, n.C_SERVICE_NAME, *PAYLOAD_COLUMNS]
    for lo in range(0, len(rows), batch):
        part = rows[lo : lo + batch]
        cols = [
            list(range(lo, lo + len(part))),
            [p.ts_ns for p in part],
            [p.trace_id for p in part],
            [p.span_id for p in part],
            [p.service for p in part],
            [p.request_headers for p in part],
            [p.response_headers for p in part],
            [p.request_body for p in part],
            [p.response_body for p in part],
        ]
        client.insert(f"{STAGE}.stage", cols, column_names=names, column_oriented=True)
    client.command(f"OPTIMIZE TABLE {STAGE}.stage FINAL")


def create_variant(client: Any, v: Variant, source: str) -> str:
    """`source`'s structure, engine, TTL and settings, then the variant's ALTERs; merges stopped."""
    t = f"{DB}.v_{v.key}"
    client.command(f"CREATE TABLE {t} AS {source}")
    # Wide parts even when small, so system.parts_columns has per-column sizes.
    client.command(f"ALTER TABLE {t} MODIFY SETTING min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0")
    for stmt in v.ddl:
        client.command(stmt.format(t=t))
    client.command(f"SYSTEM STOP MERGES {t}")
    return t


def chunks(rows: int, count: int) -> list[tuple[int, int]]:
    size = -(-rows // count)
    return [(lo, min(rows, lo + size)) for lo in range(0, rows, size)]


def insert_chunk(client: Any, target: str, lo: int, hi: int) -> float:
    """Process CPU seconds (chDB's threads included) of one batch written into `target`."""
    with CpuTimer() as t:
        client.command(
            f"INSERT INTO {target} ({', '.join(_COLS)}) SELECT {_SELECT} FROM {STAGE}.stage"
            f" WHERE Seq >= {int(lo)} AND Seq < {int(hi)}"
        )
    return t.cpu


def merge(client: Any, target: str) -> float:
    """CPU seconds until every partition of `target` is one merged part (TTL applied).

    Background merges may start as soon as merges are allowed; partitions they already merged
    are not rewritten a second time (`optimize_skip_merged_partitions`), and the wait lasts
    until no merge of the table runs, so the sizes read next are final.
    """
    db, _, name = target.partition(".")
    with CpuTimer() as t:
        client.command(f"SYSTEM START MERGES {target}")
        client.command(
            f"OPTIMIZE TABLE {target} FINAL",
            settings={"optimize_skip_merged_partitions": 1, "optimize_throw_if_noop": 0},
        )
        for _ in range(6000):
            busy = client.command(
                "SELECT count() FROM system.merges WHERE database = {db:String} AND table = {t:String}",
                parameters={"db": db, "t": name},
            )
            if int(busy) == 0:
                break
            time.sleep(0.1)
    left = client.command(
        "SELECT count() FROM (SELECT partition FROM system.parts WHERE database = {db:String} AND table = {t:String}"
        " AND active GROUP BY partition HAVING count() > 1)",
        parameters={"db": db, "t": name},
    )
    if int(left):
        raise RuntimeError(f"{target}: {left} partitions still have several parts after OPTIMIZE FINAL")
    return t.cpu


def table_stats(client: Any, database: str, table_name: str, cold_before: str) -> dict[str, Any]:
    """Sizes from system.parts (active parts): total, and partitions past the RECOMPRESS age."""
    row = client.query(
        "SELECT sum(rows), sum(bytes_on_disk), sum(data_compressed_bytes), sum(data_uncompressed_bytes), count(),"
        " sumIf(bytes_on_disk, partition < {cold:String}), sumIf(data_uncompressed_bytes, partition < {cold:String}),"
        " groupUniqArrayIf(default_compression_codec, partition < {cold:String}),"
        " groupUniqArrayIf(default_compression_codec, partition >= {cold:String})"
        " FROM system.parts WHERE database = {db:String} AND table = {t:String} AND active",
        parameters={"db": database, "t": table_name, "cold": cold_before},
    ).result_rows[0]
    return {
        "rows": int(row[0]),
        "bytes_on_disk": int(row[1]),
        "compressed": int(row[2]),
        "uncompressed": int(row[3]),
        "ratio": ratio(int(row[3]), int(row[2])),
        "parts": int(row[4]),
        "cold_bytes_on_disk": int(row[5]),
        "cold_uncompressed": int(row[6]),
        "cold_codecs": sorted(str(c) for c in row[7]),
        "hot_codecs": sorted(str(c) for c in row[8]),
        "columns": {
            c["column"]: {k: c[k] for k in ("compressed", "uncompressed", "ratio")}
            for c in column_stats(client, database, table_name)
        },
    }


_READ: Final = (
    f"SELECT {', '.join(PAYLOAD_COLUMNS)} FROM {{table:Identifier}}"
    f" WHERE {n.C_SERVICE_NAME} = {{s:String}} AND {n.C_TRACE_ID} = {{tr:String}} AND {n.C_SPAN_ID} = {{sp:String}}"
)


def read_one(client: Any, target: str, p: Payload) -> tuple[float, bool]:
    """Wall ms of one span's payload read from `target` (a table of the client's database), and
    whether it returned exactly what was generated."""
    t0 = time.perf_counter()
    rows = client.query(
        _READ, parameters={"table": target, "s": p.service, "tr": p.trace_id, "sp": p.span_id}
    ).result_rows
    ms = (time.perf_counter() - t0) * 1000
    ok = (
        len(rows) == 1
        and rows[0][2] == p.request_body
        and rows[0][3] == p.response_body
        and dict(rows[0][1]) == p.response_headers
    )
    return ms, ok


# --------------------------------------------------------------------------- the bench
FIXED_END_S: Final = 1_790_000_000.0  # bodies are generated against a fixed clock (reproducible)
DAYS: Final = 14.0  # half the partitions are past the RECOMPRESS age, as in a table kept 30 days
SMOKE_DAYS: Final = 9.0  # fewer partitions (each part costs file creation), two of them old


def data_dir_for(smoke: bool) -> Path:
    """Scratch chDB directory (emptied first, removed after): bench/data/payloads, or for a
    smoke run $CONNLOG_BENCH_SMOKE_DIR/payloads or a fresh temp dir (smoke runs go side by side)."""
    if smoke:
        base = os.environ.get(SMOKE_DIR_ENV)
        return Path(base) / "payloads" if base else Path(tempfile.mkdtemp(prefix="connlog-payloads-"))
    return DATA_DIR / "payloads"


def _null_table(client: Any) -> str:
    """A Null-engine copy: what reading the stage costs with nothing written (the CPU floor)."""
    t = f"{DB}.v_null"
    client.command(
        f"CREATE TABLE {t} ENGINE = Null AS SELECT {', '.join(_COLS)} FROM {DB}.{n.PAYLOADS} WHERE 0"
    )
    return t


def _rotated(items: Sequence[Any], k: int) -> list[Any]:
    k %= len(items)
    return [*items[k:], *items[:k]]


def verify_candidate(
    client: Any, data_dir: Path, spans: list[tuple[int, int]], cold_before: str
) -> dict[str, Any]:
    """Today's schema (the real migrations) filled like production, then CANDIDATE applied as
    `apply_retention` applies TTL changes (no MATERIALIZE TTL), then merged: the size it ends at
    and the codec of every old partition."""
    from connlog.collector.schema.migrate import apply_schema

    own = _client(data_dir, CANDIDATE_DB)
    try:
        apply_schema(own, _settings(data_dir, CANDIDATE_DB))
    finally:
        own.close()
    t = f"{CANDIDATE_DB}.{n.PAYLOADS}"
    client.command(f"ALTER TABLE {t} MODIFY SETTING min_bytes_for_wide_part = 0, min_rows_for_wide_part = 0")
    client.command(f"SYSTEM STOP MERGES {t}")
    for lo, hi in spans:
        insert_chunk(client, t, lo, hi)
    statements = [s.format(t=t) for s in CANDIDATE]
    for stmt in statements:
        client.command(stmt, settings={"materialize_ttl_after_modify": 0})
    merge_cpu = merge(client, t)
    stats = table_stats(client, CANDIDATE_DB, n.PAYLOADS, cold_before)
    stats.pop("columns")
    create = str(client.command(f"SHOW CREATE TABLE {t}"))
    return {"ddl": statements, "merge_cpu_s": round(merge_cpu, 2), "show_create": create, **stats}


def bench(smoke: bool, rows: int, reads: int, seed: int = 13, data_dir: Path | None = None) -> dict[str, Any]:
    from connlog.collector.schema.migrate import apply_schema

    data_dir = data_dir or data_dir_for(smoke)
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    t0 = time.process_time()
    days = SMOKE_DAYS if smoke else DAYS
    payloads = generate(rows, seed=seed, end_s=FIXED_END_S, days=days)
    gen_cpu = time.process_time() - t0
    # Rows are dated up to now (so the TTL sees old and fresh partitions), bodies stay fixed.
    shift = int((time.time() - 60 - FIXED_END_S) * 1e9)
    for p in payloads:
        p.ts_ns += shift
    today = datetime.now(UTC).date()
    cold_before = datetime.fromordinal(today.toordinal() - RETENTION.recompress_days).date().isoformat()
    variants = [v for v in VARIANTS if not (smoke and v.key in SMOKE_SKIP)]

    wall0 = time.perf_counter()

    def phase(what: str) -> None:
        console.print(f"[dim]{time.perf_counter() - wall0:6.1f}s {what}[/dim]")

    phase(f"generated {rows:,} rows in {gen_cpu:.1f} CPU-s")
    client = _client(data_dir, DB)
    try:
        apply_schema(client, _settings(data_dir, DB))
        stage(client, payloads)
        phase("staged")
        raw = client.query(
            f"SELECT sum(length({n.C_REQUEST_BODY})), sum(length({n.C_RESPONSE_BODY})) FROM {STAGE}.stage"
        ).result_rows[0]
        source = f"{DB}.{n.PAYLOADS}"
        tables = {v.key: create_variant(client, v, source) for v in variants}
        tables["null"] = _null_table(client)
        spans = chunks(rows, 2 if smoke else 10)
        insert_cpu: dict[str, list[float]] = {k: [] for k in tables}
        for i, (lo, hi) in enumerate(spans):
            for key in _rotated(list(tables), i):
                insert_cpu[key].append(insert_chunk(client, tables[key], lo, hi))
        phase("inserted")
        merge_cpu = {v.key: merge(client, tables[v.key]) for v in variants}
        phase("merged")
        stats = {v.key: table_stats(client, DB, f"v_{v.key}", cold_before) for v in variants}

        rng = random.Random(seed + 1)
        sample = rng.sample(payloads, min(reads, len(payloads)))
        read_ms: dict[str, list[float]] = {v.key: [] for v in variants}
        read_ok = {v.key: True for v in variants}
        for v in variants:  # warm-up: first read loads marks and primary index
            read_one(client, f"v_{v.key}", sample[0])
        for i, p in enumerate(sample):
            for v in _rotated(variants, i):
                ms, ok = read_one(client, f"v_{v.key}", p)
                read_ms[v.key].append(ms)
                read_ok[v.key] = read_ok[v.key] and ok
        phase("read")
        candidate = verify_candidate(client, data_dir, spans, cold_before)
        phase("candidate DDL checked")
        version = clickhouse_version(client)
    finally:
        client.close()
    shutil.rmtree(data_dir, ignore_errors=True)

    base = stats[TODAY.key]
    null_med = median(insert_cpu["null"])
    results: dict[str, Any] = {}
    for v in variants:
        s = stats[v.key]
        results[v.key] = {
            "label": v.label,
            "ddl": list(v.ddl),
            "expected_cold_codec": v.cold,
            **s,
            "vs_today": ratio(s["bytes_on_disk"], base["bytes_on_disk"]),
            "cold_vs_today": ratio(s["cold_bytes_on_disk"], base["cold_bytes_on_disk"]),
            "insert_cpu_s": round(sum(insert_cpu[v.key]), 3),
            "insert_cpu_s_per_chunk_median": round(median(insert_cpu[v.key]), 3),
            "insert_cpu_net_s_per_chunk_median": round(median(insert_cpu[v.key]) - null_med, 3),
            "merge_cpu_s": round(merge_cpu[v.key], 3),
            "read_ms_p50": round(pct(read_ms[v.key], 50), 2),
            "read_ms_p95": round(pct(read_ms[v.key], 95), 2),
            "reads_ok": read_ok[v.key],
        }
    predicted = results.get(CANDIDATE_MATCHES, {}).get("bytes_on_disk", 0)
    candidate["predicted_bytes_on_disk"] = predicted
    candidate["vs_predicted"] = ratio(candidate["bytes_on_disk"], predicted) if predicted else None
    candidate["vs_today"] = ratio(candidate["bytes_on_disk"], base["bytes_on_disk"])
    kinds: dict[str, int] = {}
    for p in payloads:
        kinds[p.kind] = kinds.get(p.kind, 0) + 1
    return {
        "clickhouse_version": version,
        "params": {
            "rows": rows,
            "seed": seed,
            "days": days,
            "cold_before": cold_before,
            "chunks": len(spans),
            "reads": len(sample),
            "retention": {
                "recompress_days": RETENTION.recompress_days,
                "payload_days": payload_days(RETENTION),
            },
        },
        "generated": {
            "rows": len(payloads),
            "traces": len({p.trace_id for p in payloads}),
            "kinds": kinds,
            "request_body_bytes": int(raw[0]),
            "response_body_bytes": int(raw[1]),
            "mean_body_bytes": round((int(raw[0]) + int(raw[1])) / max(1, rows)),
            "generation_cpu_s": round(gen_cpu, 1),
        },
        "insert_cpu_floor_s_per_chunk_median": round(null_med, 3),
        "variants": results,
        "candidate": candidate,
    }


def _mb(b: int) -> float:
    return round(b / 1e6, 2)


def report(res: dict[str, Any]) -> None:
    g = res["generated"]
    rows = []
    for r in res["variants"].values():
        c = r["columns"]
        hdr_c = sum(c.get(k, {}).get("compressed", 0) for k in (n.C_REQUEST_HEADERS, n.C_RESPONSE_HEADERS))
        hdr_u = sum(c.get(k, {}).get("uncompressed", 0) for k in (n.C_REQUEST_HEADERS, n.C_RESPONSE_HEADERS))
        rows.append(
            [
                r["label"],
                _mb(r["bytes_on_disk"]),
                r["ratio"],
                r["vs_today"],
                _mb(r["cold_bytes_on_disk"]),
                r["cold_vs_today"],
                c.get(n.C_RESPONSE_BODY, {}).get("ratio"),
                c.get(n.C_REQUEST_BODY, {}).get("ratio"),
                ratio(hdr_u, hdr_c),
                r["insert_cpu_s"],
                r["merge_cpu_s"],
                r["read_ms_p50"],
                r["read_ms_p95"],
                ",".join(r["cold_codecs"]),
            ]
        )
    table(
        f"otel_traces_payloads: {g['rows']:,} rows ({g['traces']:,} runs), {g['mean_body_bytes']:,} B of body per row,"
        f" {res['params']['days']:.0f} days; cold = partitions before {res['params']['cold_before']}",
        [
            "variant",
            "disk MB",
            "ratio",
            "÷today",
            "cold MB",
            "cold ÷today",
            "RespBody",
            "ReqBody",
            "headers",
            "ins CPU s",
            "merge CPU s",
            "read p50",
            "p95 ms",
            "cold codec",
        ],
        rows,
    )
    bad = [k for k, r in res["variants"].items() if r["rows"] != g["rows"] or not r["reads_ok"]]
    console.print(
        f"rows stored = generated and reads return the generated payload in every variant: {not bad} {bad or ''}"
    )
    p = res["candidate"]
    console.print(
        f"insert CPU floor (stage read into a Null table): {res['insert_cpu_floor_s_per_chunk_median']} s per chunk (median)"
    )
    console.print("candidate DDL applied to today's schema holding the data, then merged:")
    for stmt in p["ddl"]:
        console.print(f"  {stmt};")
    console.print(
        f"  -> {_mb(p['bytes_on_disk'])} MB on disk ({p['vs_today']} of today, {p['vs_predicted']} of the"
        f" {CANDIDATE_MATCHES} variant), old partitions in {p['cold_codecs']}, fresh in {p['hot_codecs']},"
        f" merge CPU {p['merge_cpu_s']} s, rows {p['rows']:,}"
    )


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--smoke", action="store_true", help="10k rows, fewer reads, ZSTD(19) skipped")
    ap.add_argument("--rows", type=int, default=0, help="payload rows (default 200,000; smoke 10,000)")
    ap.add_argument("--reads", type=int, default=0, help="one-span reads per variant (default 200; smoke 20)")
    ap.add_argument(
        "--data-dir", type=Path, default=None, help="scratch chDB directory, emptied first (e.g. on tmpfs)"
    )
    args = ap.parse_args(argv)
    rows = args.rows or (10_000 if args.smoke else 200_000)
    reads = args.reads or (20 if args.smoke else 200)
    if rows < 100:
        ap.error("--rows must be at least 100")
    res = bench(args.smoke, rows, reads, data_dir=args.data_dir)
    report(res)
    write_results("payloads", res, smoke=args.smoke)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
