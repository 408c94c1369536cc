"""The offline backend's deterministic planner: what to call next for a step, and the reply.

Each strategy is written as straight-line code over the tool results it needs. `Lookup.get`
returns a result that is already in the transcript or raises `NeedCalls` naming the call to make
next, so the planner is re-run from the top on every model call and always picks up where the
tool results leave it (the same thing a model does when it reads the conversation).
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

from crew import replies
from crew.plan import ItemRef, Step, StepReport, ToolCall
from crew.replies import say

Result = Any


class NeedCalls(Exception):
    """The strategy needs these tool results before it can go on."""

    def __init__(self, calls: list[ToolCall]) -> None:
        super().__init__(", ".join(call.tool for call in calls))
        self.calls = calls


class ToolFailed(Exception):
    """A tool answered with an error (not found, refused, invalid...)."""

    def __init__(self, tool: str, kind: str, message: str) -> None:
        super().__init__(f"{tool}: {kind}: {message}")
        self.tool, self.kind, self.message = tool, kind, message


class Finished(Exception):
    """A strategy ends early with this report (a question back, a refusal)."""

    def __init__(self, report: StepReport) -> None:
        super().__init__(report.reply)
        self.report = report


def _key(tool: str, arguments: Mapping[str, Any]) -> str:
    return tool + json.dumps(arguments, sort_keys=True, default=str)


def parse_result(tool: str, content: Any) -> Result:
    """A tool's JSON reply as data; an error reply raises `ToolFailed`."""
    if isinstance(content, str):
        try:
            content = json.loads(content)
        except ValueError:
            raise ToolFailed(tool, "tool_error", content) from None
    if isinstance(content, dict) and "error" in content and set(content) <= {"error", "message"}:
        raise ToolFailed(tool, str(content["error"]), str(content.get("message", "")))
    return content


class Lookup:
    """Tool results seen so far in this step, keyed by call; missing ones become `NeedCalls`."""

    def __init__(self, results: Mapping[str, Any], parameters: Mapping[str, set[str]]) -> None:
        self._results = results
        self._parameters = parameters  # tool name -> parameter names it accepts

    def has_tool(self, tool: str) -> bool:
        return tool in self._parameters

    def call(self, tool: str, **arguments: Any) -> ToolCall:
        accepted = self._parameters.get(tool, set())
        return ToolCall(tool=tool, arguments={k: v for k, v in arguments.items() if k in accepted})

    def get(self, tool: str, **arguments: Any) -> Result:
        return self.get_many([self.call(tool, **arguments)])[0]

    def get_many(self, calls: list[ToolCall]) -> list[Result]:
        """Several independent reads at once (one model turn asks for all that are missing)."""
        missing = [c for c in calls if _key(c.tool, c.arguments) not in self._results]
        if missing:
            raise NeedCalls(missing)
        return [parse_result(c.tool, self._results[_key(c.tool, c.arguments)]) for c in calls]

    def together(self, *reads: Callable[[], Result]) -> list[Result]:
        """Independent chains of reads advanced side by side: the next call each one is missing
        goes out in the same model turn, so the step costs the longest chain, not their sum."""
        missing: list[ToolCall] = []
        found = []
        for read in reads:
            try:
                found.append(read())
            except NeedCalls as need:
                missing += [c for c in need.calls if c not in missing]
        if missing:
            raise NeedCalls(missing)
        return found


def results_key(tool: str, arguments: Mapping[str, Any]) -> str:
    return _key(tool, arguments)


# --- shared lookups ---------------------------------------------------------------------------


def _finish(reply: str, **fields: Any) -> Finished:
    return Finished(StepReport(reply=reply, **fields))


def _user(lookup: Lookup) -> dict[str, Any]:
    return lookup.get("get_user_details")


def _order(lookup: Lookup, order_id: str) -> dict[str, Any]:
    try:
        return lookup.get("get_order_details", order_id=order_id)
    except ToolFailed as failed:
        if failed.kind in {"not_found", "order_not_found", "invalid_arguments"}:
            raise _finish(say("order_not_found", order_id=order_id), missing=["order_id"]) from None
        raise


def _orders(lookup: Lookup, order_ids: list[str]) -> list[dict[str, Any]]:
    return lookup.get_many([lookup.call("get_order_details", order_id=o) for o in order_ids])


def _words(text: str) -> set[str]:
    words = re.findall(r"[a-z0-9]+", text.lower().replace("-", " "))
    return {w[:-1] if len(w) > 3 and w.endswith("s") else w for w in words}


def _names_match(ref: ItemRef, name: str) -> bool:
    if ref.product_type and ref.product_type.lower() == name.lower():
        return True
    wanted = _words(ref.product_type or "") | _words(ref.text)
    return bool(wanted & _words(name))


def _options_match(wanted: Mapping[str, str], options: Mapping[str, Any]) -> bool:
    values = {str(v).lower() for v in options.values()}
    for key, value in wanted.items():
        have = options.get(key)
        if have is None and str(value).lower() not in values:
            return False
        if have is not None and str(have).lower() != str(value).lower():
            return False
    return True


def item_matches(ref: ItemRef, item: Mapping[str, Any]) -> bool:
    if ref.item_id:
        return ref.item_id == item.get("item_id")
    named = ref.product_type or ref.text
    if named and not _names_match(ref, str(item.get("name", ""))):
        return False
    return _options_match(ref.options, item.get("options", {}))


def _matched_items(step: Step, order: dict[str, Any]) -> list[dict[str, Any]]:
    items = order.get("items", [])
    target = step.target
    if target.all_items:
        return list(items)
    chosen: list[dict[str, Any]] = []
    for ref in target.items:
        hits = [item for item in items if item_matches(ref, item) and item not in chosen]
        if not hits:
            wanted = ref.text or " ".join([*ref.options.values(), ref.product_type or "item"])
            raise _finish(
                say(
                    "item_not_matched",
                    wanted=f'"{wanted}"',
                    order_id=order["order_id"],
                    items=replies.items_phrase(items),
                ),
                order_id=order["order_id"],
                missing=["items"],
            )
        chosen.append(hits[0])
    if not chosen:
        if len(items) == 1:
            return list(items)
        raise _finish(
            say("item_needed", order_id=order["order_id"], items=replies.items_phrase(items)),
            order_id=order["order_id"],
            missing=["items"],
        )
    return chosen


def _order_for_step(
    step: Step, lookup: Lookup, wanted_status: Callable[[str], bool] | None = None
) -> dict[str, Any]:
    """The order the customer means: named, "my last order", the one from earlier, or the most
    recent order holding the item they describe."""
    target = step.target
    if target.order_id:
        return _order(lookup, target.order_id)
    order_ids = list(_user(lookup).get("orders", []))
    if not order_ids:
        raise _finish(say("no_orders"))
    if target.order_ref == "latest":
        return _order(lookup, order_ids[-1])
    if target.order_ref == "previous" and len(order_ids) > 1:
        return _order(lookup, order_ids[-2])
    if target.items and not target.all_items:
        orders = _orders(lookup, list(reversed(order_ids)))
        holding = [o for o in orders if all(_holds(o, ref) for ref in target.items)]
        suitable = [o for o in holding if wanted_status is None or wanted_status(o["status"])]
        if suitable or holding:
            return (suitable or holding)[0]
    if step.recent_orders:
        return _order(lookup, step.recent_orders[0])
    if len(order_ids) == 1:
        return _order(lookup, order_ids[0])
    raise _finish(say("order_needed"), missing=["order_id"])


def _holds(order: Mapping[str, Any], ref: ItemRef) -> bool:
    return any(item_matches(ref, item) for item in order.get("items", []))


def _payment_methods(user: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    return dict(user.get("payment_methods", {}))


def _original_method(order: Mapping[str, Any]) -> str:
    payments = [p for p in order.get("payment_history", []) if p["transaction_type"] == "payment"]
    return payments[0]["payment_method_id"] if payments else ""


def _method_of_kind(user: Mapping[str, Any], source: str) -> str | None:
    for method_id, method in _payment_methods(user).items():
        if method.get("source") == source:
            return method_id
    return None


def _payment_for(step: Step, lookup: Lookup, order: Mapping[str, Any]) -> str:
    """The payment method the customer asked for, else the order's original one."""
    original = _original_method(order)
    choice = step.target.payment
    if choice in (None, "original"):
        return original
    if original.startswith(choice):
        return original
    user = _user(lookup)
    found = _method_of_kind(user, choice)
    if found is None:
        methods = [replies.method_phrase(m, i) for i, m in _payment_methods(user).items()]
        raise _finish(
            say(
                "payment_not_found",
                wanted=choice.replace("_", " "),
                methods=replies.join(methods),
            ),
            order_id=order["order_id"],
            missing=["payment"],
        )
    return found


def _require_status(order: Mapping[str, Any], allowed: Callable[[str], bool], key: str) -> None:
    if not allowed(order["status"]):
        raise _finish(
            say(key, order_id=order["order_id"], status=order["status"]),
            order_id=order["order_id"],
        )


def _is_pending(status: str) -> bool:
    return status == "pending"


def _is_delivered(status: str) -> bool:
    return status == "delivered"


def _proposal(lookup: Lookup, tool: str, about: str | None, **arguments: Any) -> StepReport:
    """Propose the write (the flow words the confirmation; `about` is the order concerned)."""
    call = lookup.call(tool, **arguments)
    return StepReport(reply="", proposal=call, order_id=about)


# --- strategies -------------------------------------------------------------------------------


def order_status(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup)
    return StepReport(reply=describe_order(order), order_id=order["order_id"])


def describe_order(order: Mapping[str, Any]) -> str:
    lines = [
        say("order_status_head", order_id=order["order_id"], status=order["status"]),
        say("order_placed_items", items=replies.items_phrase(order.get("items", []), price=True)),
    ]
    tracking = [t for f in order.get("fulfillments", []) for t in f.get("tracking_id", [])]
    if tracking:
        lines.append(say("order_tracking", tracking=", ".join(tracking)))
    elif order["status"] in {"pending", "pending (item modified)"}:
        lines.append(say("order_no_tracking"))
    payments = order.get("payment_history", [])
    paid = [p for p in payments if p["transaction_type"] == "payment"]
    if paid:
        lines.append(
            say(
                "order_paid",
                amount=replies.money(sum(Decimal(str(p["amount"])) for p in paid)),
                method=replies.method_phrase(None, paid[0]["payment_method_id"]),
            )
        )
    refunds = [p for p in payments if p["transaction_type"] == "refund"]
    if refunds:
        lines.append(
            say("order_refunds", refunds=replies.join(replies.money(p["amount"]) for p in refunds))
        )
    return " ".join(lines)


def list_orders(step: Step, lookup: Lookup) -> StepReport:
    order_ids = list(_user(lookup).get("orders", []))
    if not order_ids:
        return StepReport(reply=say("no_orders"))
    orders = _orders(lookup, order_ids)
    head = say("list_orders_head", count=len(orders)) if len(orders) > 1 else say("list_orders_one")
    lines = [head]
    for order in orders:
        names = replies.join(item["name"] for item in order.get("items", []))
        lines.append(f"- {order['order_id']}: {order['status']}, {names}")
    return StepReport(reply="\n".join(lines), order_id=order_ids[-1])


def profile(step: Step, lookup: Lookup) -> StepReport:
    user = _user(lookup)
    methods = []
    for method_id, method in _payment_methods(user).items():
        text = replies.method_phrase(method, method_id)
        if method.get("balance") is not None:
            text += f" (balance {replies.money(method['balance'])})"
        methods.append(text)
    lines = [
        say("profile_head", first_name=user["name"]["first_name"]),
        say("profile_address", address=replies.address_phrase(user["address"])),
        say("profile_payments", methods=replies.join(methods)),
    ]
    return StepReport(reply=" ".join(lines))


def propose_return(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, _is_delivered)
    _require_status(order, _is_delivered, "status_blocks_return")
    items = _matched_items(step, order)
    method = _payment_for(step, lookup, order)
    return _proposal(
        lookup,
        "return_delivered_order_items",
        order["order_id"],
        order_id=order["order_id"],
        item_ids=[item["item_id"] for item in items],
        payment_method_id=method,
    )


def _available_variants(product: Mapping[str, Any]) -> list[dict[str, Any]]:
    return [v for v in product.get("variants", {}).values() if v.get("available")]


def _variants_summary(product: Mapping[str, Any], limit: int = 6) -> str:
    return "; ".join(
        f"{replies.options_phrase(v['options'])} ({replies.money(v['price'])})"
        for v in _available_variants(product)[:limit]
    )


def closest_variant(
    product: Mapping[str, Any], current: Mapping[str, Any], wanted: Mapping[str, str]
) -> dict[str, Any] | None:
    """The available variant with every wanted option that keeps most of the current ones."""
    fits = [
        v
        for v in _available_variants(product)
        if v["item_id"] != current.get("item_id") and _options_match(wanted, v["options"])
    ]
    kept = current.get("options", {})

    def score(variant: Mapping[str, Any]) -> tuple[int, float]:
        same = sum(1 for k, val in variant["options"].items() if kept.get(k) == val)
        return same, -abs(float(variant["price"]) - float(current.get("price", 0)))

    return max(fits, key=score) if fits else None


def _swaps(step: Step, lookup: Lookup, order: Mapping[str, Any]) -> tuple[list[str], list[str]]:
    """(old item ids, new item ids) for an exchange or an item change."""
    target = step.target
    items = _matched_items(step, dict(order))
    old, new = [], []
    for item in items:
        if target.wanted_product_type and not _names_match(
            ItemRef(product_type=target.wanted_product_type), item["name"]
        ):
            raise _finish(
                say(
                    "exchange_other_product",
                    item=item["name"],
                    wanted=target.wanted_product_type,
                ),
                order_id=order["order_id"],
            )
        product = lookup.get("get_product_details", product_id=item["product_id"])
        if not target.wanted:
            names = replies.join(list(item.get("options", {})), last="or")
            raise _finish(
                say(
                    "exchange_options_needed",
                    item=item["name"],
                    option_names=names,
                    options=_variants_summary(product),
                ),
                order_id=order["order_id"],
                missing=["wanted"],
            )
        variant = closest_variant(product, item, target.wanted)
        if variant is None:
            raise _finish(
                say(
                    "exchange_no_variant",
                    product=item["name"],
                    wanted=replies.options_phrase(target.wanted),
                    options=_variants_summary(product),
                ),
                order_id=order["order_id"],
                products=[item["product_id"]],
            )
        old.append(item["item_id"])
        new.append(variant["item_id"])
    return old, new


def propose_exchange(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, _is_delivered)
    _require_status(order, _is_delivered, "status_blocks_exchange")
    old, new = _swaps(step, lookup, order)
    return _proposal(
        lookup,
        "exchange_delivered_order_items",
        order["order_id"],
        order_id=order["order_id"],
        item_ids=old,
        new_item_ids=new,
        payment_method_id=_payment_for(step, lookup, order),
    )


def propose_modify_items(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, _is_pending)
    _require_status(order, _is_pending, "status_blocks_change")
    old, new = _swaps(step, lookup, order)
    return _proposal(
        lookup,
        "modify_pending_order_items",
        order["order_id"],
        order_id=order["order_id"],
        item_ids=old,
        new_item_ids=new,
        payment_method_id=_payment_for(step, lookup, order),
    )


def propose_cancel(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, _is_pending)
    _require_status(order, _is_pending, "status_blocks_change")
    if not step.target.reason:
        raise _finish(
            say("reason_needed", order_id=order["order_id"]),
            order_id=order["order_id"],
            missing=["reason"],
        )
    return _proposal(
        lookup,
        "cancel_pending_order",
        order["order_id"],
        order_id=order["order_id"],
        reason=step.target.reason,
    )


def _new_address(step: Step, lookup: Lookup, order_id: str | None = None) -> dict[str, str]:
    if step.target.address is not None:
        return step.target.address.model_dump()
    if step.target.use_default_address:
        return dict(_user(lookup)["address"])
    raise _finish(say("address_needed"), order_id=order_id, missing=["address"])


def propose_modify_address(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, lambda s: "pending" in s)
    _require_status(order, lambda s: "pending" in s, "status_blocks_change")
    address = _new_address(step, lookup, order["order_id"])
    return _proposal(
        lookup,
        "modify_pending_order_address",
        order["order_id"],
        order_id=order["order_id"],
        **address,
    )


def propose_modify_payment(step: Step, lookup: Lookup) -> StepReport:
    order = _order_for_step(step, lookup, lambda s: "pending" in s)
    _require_status(order, lambda s: "pending" in s, "status_blocks_change")
    if step.target.payment in (None, "original"):
        raise _finish(say("order_needed"), missing=["payment"])
    method = _payment_for(step, lookup, order)
    if method == _original_method(order):
        raise _finish(
            say(
                "payment_same",
                order_id=order["order_id"],
                method=replies.method_phrase(None, method),
            ),
            order_id=order["order_id"],
        )
    return _proposal(
        lookup,
        "modify_pending_order_payment",
        order["order_id"],
        order_id=order["order_id"],
        payment_method_id=method,
    )


def propose_update_address(step: Step, lookup: Lookup) -> StepReport:
    address = _new_address(step, lookup)
    return _proposal(lookup, "modify_user_address", None, **address)


def policy(step: Step, lookup: Lookup) -> StepReport:
    if not step.passages:
        return StepReport(reply=say("policy_none"), missing=["passage"])
    quotes = [
        say("policy_quote", text=_excerpt(p.text), citation=p.citation) for p in step.passages[:2]
    ]
    return StepReport(reply="\n\n".join([say("policy_answer"), *quotes]))


def _excerpt(text: str, limit: int = 420) -> str:
    """The passage up to `limit` characters, cut at a sentence end; markup stripped."""
    flat = " ".join(line.strip().lstrip("#").strip() for line in text.splitlines() if line.strip())
    if len(flat) <= limit:
        return flat
    cut = flat[:limit]
    end = max(cut.rfind(". "), cut.rfind("! "), cut.rfind("? "))
    return cut[: end + 1] if end > limit // 3 else cut.rstrip() + "…"


DONE_REPLY = {
    "return_delivered_order_items": "done_return",
    "exchange_delivered_order_items": "done_exchange",
    "cancel_pending_order": "done_cancel",
    "modify_pending_order_address": "done_modify_address",
    "modify_pending_order_items": "done_modify_items",
    "modify_pending_order_payment": "done_modify_payment",
    "modify_user_address": "done_update_address",
}


def execute(step: Step, lookup: Lookup) -> StepReport:
    """Run the confirmed call verbatim and say what happened, in the words it was confirmed."""
    call = step.execute
    if call is None:
        raise _finish(say("nothing_pending"))
    order_id = call.arguments.get("order_id")
    try:
        result = lookup.get_many([call])[0]
    except ToolFailed as failed:
        return StepReport(reply=say("done_failed", message=failed.message), order_id=order_id)
    if isinstance(result, dict) and result.get("status") == "pending_approval":
        amount = result.get("amount") or step.facts.get("amount", "")
        text = replies.money(amount) if isinstance(amount, int | float) else amount
        return StepReport(reply=say("approval_pending", amount=text), order_id=order_id)
    fields = {"order_id": order_id or "", **step.facts}
    return StepReport(reply=say(DONE_REPLY[call.tool], **fields).strip(), order_id=order_id)


STRATEGIES: dict[str, Callable[[Step, Lookup], StepReport]] = {
    "execute": execute,
    "order_status": order_status,
    "list_orders": list_orders,
    "profile": profile,
    "return": propose_return,
    "exchange": propose_exchange,
    "cancel": propose_cancel,
    "modify_address": propose_modify_address,
    "modify_items": propose_modify_items,
    "modify_payment": propose_modify_payment,
    "update_address": propose_update_address,
    "policy": policy,
}


def register(kind: str, strategy: Callable[[Step, Lookup], StepReport]) -> None:
    """Let another module (recommendations, execution) add a strategy for its step kind."""
    STRATEGIES[kind] = strategy


def next_move(step: Step, lookup: Lookup) -> list[ToolCall] | StepReport:
    """The calls to make next, or the final report."""
    try:
        return STRATEGIES[step.kind](step, lookup)
    except NeedCalls as need:
        return need.calls
    except Finished as finished:
        return finished.report
    except ToolFailed as failed:
        reply = say("tool_error") if failed.kind in {"internal", "tool_error"} else failed.message
        return StepReport(reply=reply, missing=[failed.kind])
