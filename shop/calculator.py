"""`calculate`: the arithmetic τ²-bench's agents may ask for, without `eval`.

Only numbers, + - * / and parentheses; exact decimal arithmetic, the result rounded to cents
(half to even). τ²-bench evaluates with binary floats, so on a value like 2.675 it rounds down
where we round exactly.
"""

from __future__ import annotations

import ast
import operator
from decimal import Decimal, DivisionByZero, InvalidOperation, localcontext

from shop import validate
from shop.errors import InvalidArgument
from shop.rules import CENT

MAX_EXPRESSION = 200
MAX_DEPTH = 30  # nesting of operations (keeps a pathological expression from recursing deep)
ALLOWED = set("0123456789+-*/(). ")
BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
}
UNARY = {ast.UAdd: operator.pos, ast.USub: operator.neg}


def _evaluate(node: ast.AST, depth: int = 0) -> Decimal:
    if depth > MAX_DEPTH:
        raise InvalidArgument("The expression is nested too deeply.")
    if isinstance(node, ast.Constant) and type(node.value) in (int, float):
        return Decimal(str(node.value))
    if isinstance(node, ast.BinOp) and type(node.op) in BINARY:
        left, right = _evaluate(node.left, depth + 1), _evaluate(node.right, depth + 1)
        return BINARY[type(node.op)](left, right)
    if isinstance(node, ast.UnaryOp) and type(node.op) in UNARY:
        return UNARY[type(node.op)](_evaluate(node.operand, depth + 1))
    raise InvalidArgument("Only numbers, + - * / and parentheses are allowed.")


def calculate(expression: str) -> str:
    """The value of `expression`, rounded to cents, as text (e.g. "135.50")."""
    expression = validate.text(expression, "expression", max_length=MAX_EXPRESSION)
    if not set(expression) <= ALLOWED:
        raise InvalidArgument("Only numbers, + - * / and parentheses are allowed.")
    try:
        tree = ast.parse(expression, mode="eval")
    except SyntaxError:
        raise InvalidArgument("The expression is not valid arithmetic.") from None
    with localcontext() as context:
        context.prec = 40
        context.traps[DivisionByZero] = True
        try:
            return str(_evaluate(tree.body).quantize(CENT))
        except DivisionByZero:
            raise InvalidArgument("division by zero") from None
        except InvalidOperation:  # 0/0, or a result too large to show in cents
            raise InvalidArgument("The result cannot be computed to the cent.") from None
