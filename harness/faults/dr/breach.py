"""Security Breach: a signing key leaks and an attacker uses it; the runbook contains it.

Injection reads the active key out of `<data>/keys.json` (the leak) and starts the
`Attacker` (harness.faults.dr.attacker): forged admin tokens, requests that read the write
log and change, delete and purge, through the router, recorded in `<run>/attack.jsonl`.
The attacker keeps trying until clear (or its own bound), so the requests it sends after
containment show whether containment held.

Containment is the runbook's: `rotate_keys` (a new active key; tokens of the old one
still verify), `revoke_kid` (every token of the leaked key refused from the next request;
its result names the new active kid, so legitimate clients can get new tokens), and
`restore_attacker_changes` (harness.faults.dr.revert). Actions work on the keyring in the
data dir directly, as an operator with a shell on the host would.

The leaked kid is remembered per data dir in this process (`leak_of`), so `revoke_kid`
with `kid = "leaked"` knows which key to revoke.
"""

from __future__ import annotations

import dataclasses
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness.errors import HarnessError
from harness.faults.base import FaultContext, FaultError
from harness.faults.dr.attacker import ATTACK_OPS, Attacker, AttackPlan, counts, steal_active_key
from harness.faults.dr.common import require_deployment, target_url
from harness.rundir import JsonlAppender
from harness.service.rbac import ROLES
from harness.toml_table import Table

ATTACK_FILE = "attack.jsonl"
LEAKED = "leaked"
"""`revoke_kid`'s `kid` that stands for the key the breach leaked."""


@dataclass(frozen=True)
class Leak:
    """Which key leaked from which data dir, and when."""

    data_dir: str
    kid: str
    t: float


_leaks: dict[str, Leak] = {}
_leaks_lock = threading.Lock()


def leak_of(data_dir: Path) -> Leak | None:
    """The last leak injected on `data_dir` in this process, if any."""
    with _leaks_lock:
        return _leaks.get(str(Path(data_dir).resolve()))


def _remember(leak: Leak) -> None:
    with _leaks_lock:
        _leaks[leak.data_dir] = leak


class SecurityBreachFault:
    """Leak the active signing key and attack with it until cleared."""

    type = "security_breach"

    def __init__(self, plan: AttackPlan) -> None:
        self.plan = plan
        self._attacker: Attacker | None = None
        self._out: JsonlAppender | None = None

    @classmethod
    def from_params(cls, params: Table) -> SecurityBreachFault:
        """`role` (admin), `sub` (intruder), `attack_rate_per_s` (20), `max_duration_s`
        (120: the loop's own bound), `ops` (all of ATTACK_OPS), `timeout_s` (2), `seed`."""
        ops = params.strings("ops") or ATTACK_OPS
        for index, op in enumerate(ops):
            if op not in ATTACK_OPS:
                raise params.error(
                    f"expected one of {', '.join(ATTACK_OPS)}, got {op!r}", f"ops[{index}]"
                )
        plan = AttackPlan(
            role=params.choice("role", tuple(ROLES), "admin"),
            sub=params.string("sub", "intruder"),
            rate_per_s=params.number("attack_rate_per_s", 20.0, low=0.1, high=200.0),
            max_duration_s=params.duration("max_duration_s", 120.0),
            ops=tuple(ops),
            timeout_s=params.duration("timeout_s", 2.0),
            seed=params.integer("seed", 0, low=0) if params.has("seed") else None,
        )
        return cls(plan)

    def describe(self) -> str:
        """One line: the leak and the attack."""
        plan = self.plan
        return (
            f"security_breach: active signing key read from keys.json; {plan.role} tokens "
            f"forged as {plan.sub!r}, {plan.rate_per_s:g} req/s "
            f"({', '.join(plan.ops)}) for at most {plan.max_duration_s:g}s"
        )

    def inject(self, ctx: FaultContext) -> None:
        """Steal the key, remember the leak, start the attacker."""
        deployment = require_deployment(ctx, self.type)
        url = target_url(ctx, self.type)
        data_dir = Path(deployment.data_dir).resolve()
        try:
            key = steal_active_key(data_dir, ctx.clock)
        except (OSError, ValueError, HarnessError) as exc:
            raise FaultError(self.type, f"could not read the key: {exc}") from None
        _remember(Leak(str(data_dir), key.kid, key.leaked_t))
        seed_items = int(getattr(deployment.config, "seed_items", 1) or 1)
        plan = dataclasses.replace(self.plan, item_ids=(1, seed_items))
        if ctx.run_dir is not None:
            self._out = JsonlAppender(Path(ctx.run_dir) / ATTACK_FILE)
        self._attacker = Attacker(url, key, plan, self._write)
        self._attacker.start()
        ctx.emit(
            "fault_effect",
            fault=self.type,
            leaked_kid=key.kid,
            key_file=str(data_dir / "keys.json"),
            sub=plan.sub,
            role=plan.role,
            attack_rate_per_s=plan.rate_per_s,
        )

    def clear(self, ctx: FaultContext) -> None:
        """Stop the attacker and close attack.jsonl; record what the attack got."""
        attacker, self._attacker = self._attacker, None
        if attacker is not None:
            attacker.stop()
            if attacker.error is not None:
                ctx.emit("error", message=f"security_breach: the attacker broke: {attacker.error}")
            ctx.emit("attack_stopped", fault=self.type, **counts(attacker.records))
        out, self._out = self._out, None
        if out is not None:
            out.close()

    @property
    def attacker(self) -> Attacker | None:
        """The running attacker (None before injection and after clear)."""
        return self._attacker

    def _write(self, record: dict[str, Any]) -> None:
        out = self._out
        if out is not None:
            out.append(record)
            out.flush()


# -- runbook actions --------------------------------------------------------------------------


def _keyring(ctx: FaultContext, what: str) -> Any:
    from harness.service.tokens import Keyring

    return Keyring(Path(require_deployment(ctx, what).data_dir))


def rotate_keys(ctx: FaultContext) -> dict[str, Any]:
    """A new active signing key; the old one is retired (its tokens still verify)."""
    keyring = _keyring(ctx, "rotate_keys")
    before = {k.kid for k in keyring.key_info() if k.status == "active"}
    kid = keyring.rotate()
    return {
        "active_kid": kid,
        "retired": sorted(before),
        "keys": [{"kid": k.kid, "status": k.status} for k in keyring.key_info()],
    }


def revoke_kid(ctx: FaultContext, kid: str) -> dict[str, Any]:
    """Refuse every token signed by `kid` (`leaked`: the key the breach leaked) from the
    next request on; the result's `active_kid` is the key new tokens must be signed with."""
    keyring = _keyring(ctx, "revoke_kid")
    if kid == LEAKED:
        leak = leak_of(Path(ctx.deployment.data_dir))
        if leak is None:
            raise FaultError("revoke_kid", 'kid = "leaked", but no key has leaked here')
        kid = leak.kid
    try:
        keyring.revoke(kid=kid)
    except ValueError as exc:
        raise FaultError("revoke_kid", str(exc)) from None
    return {
        "revoked_kid": kid,
        "active_kid": keyring.active_kid(),
        "keys": [{"kid": k.kid, "status": k.status} for k in keyring.key_info()],
    }
