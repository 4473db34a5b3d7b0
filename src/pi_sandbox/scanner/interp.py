"""Runs small, pure user functions over constant arguments: the decoders that hide names.

``function d(s, k) { let o = ''; for (let i = 0; i < s.length; i++) o += String.fromCharCode(s.charCodeAt(i)
^ k); return o }`` is how a name like ``eval`` is hidden from a text search. The resolver calls
:meth:`Interpreter.call` when such a function is called with arguments it can compute; the interpreter
executes the body statement by statement in a frame of local values (declarations, assignments,
``+=``/``^=``/``++``, ``if``, ``for``/``for-of``/``while``, ``push``/``shift`` on local arrays, ``return``).
Expressions are evaluated by the resolver, which looks names up in the frames first.

Nothing here touches the machine: it is an abstract evaluator over :class:`~values.Val`, with a step
budget, a call-depth limit and a loop cap. Whatever it does not understand (a call with unknown
effects, ``try``, a condition it cannot decide) abandons the call, and the result is unknown.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Final, Protocol

from tree_sitter import Node

from pi_sandbox.scanner import ops
from pi_sandbox.scanner import values as v
from pi_sandbox.scanner.bindings import pattern_elements
from pi_sandbox.scanner.fold import node_text
from pi_sandbox.scanner.values import Val


class Evaluator(Protocol):
    """What the interpreter needs of its resolver (``scanner.resolve.Resolver``; a protocol keeps the
    resolver's module, which creates the interpreter, out of this one's imports)."""

    #: The running calls' local bindings, innermost last.
    frames: list[dict[str, Val]]

    def evaluate(self, node: Node | None, depth: int = 0) -> Val: ...

    def out_of_budget(self) -> bool: ...

    def member_of(self, obj: Val, name: str) -> Val: ...

    def function_value(self, function: Node) -> Val: ...

    def call_arguments(self, call: Node) -> list[Node]: ...

MAX_CALL_DEPTH: Final = 4
#: Statements and loop iterations one top-level call may execute.
MAX_STEPS: Final = 20_000
MAX_LOOP: Final = 4096
#: Per file: interpreted calls in all (a file that calls a decoder a million times stays fast).
MAX_CALLS_PER_FILE: Final = 2000

_SKIPPED: Final = frozenset({"comment", "empty_statement", "debugger_statement", ";"})
_MUTATORS: Final = frozenset({"push", "unshift", "pop", "shift", "reverse"})


class GiveUp(Exception):
    """The interpreter met something it does not model: the call's value is unknown."""


class _Return(Exception):
    def __init__(self, value: Val) -> None:
        self.value = value


class _Break(Exception):
    pass


class _Continue(Exception):
    pass


class Interpreter:
    """Executes user functions for one resolver (shares its frames and budget)."""

    def __init__(self, resolver: Evaluator) -> None:
        self.r = resolver
        self.depth = 0
        self.steps = 0
        self.calls = 0

    def call(self, function: Node, args: list[Val]) -> Val:
        """The value a call of ``function`` with ``args`` returns, or unknown."""
        if self.depth >= MAX_CALL_DEPTH or self.calls >= MAX_CALLS_PER_FILE:
            return v.UNKNOWN
        self.calls += 1
        if self.depth == 0:
            self.steps = 0
        frame: dict[str, Val] = {}
        self.r.frames.append(frame)
        self.depth += 1
        try:
            self._bind_parameters(function, args, frame)
            body = function.child_by_field_name("body")
            if body is None:
                return v.UNKNOWN
            if body.type != "statement_block":  # arrow function with an expression body
                return self.r.evaluate(body)
            self._block(body)
            return v.UNKNOWN  # fell off the end: undefined
        except _Return as ret:
            return ret.value
        except (GiveUp, _Break, _Continue, RecursionError):
            return v.UNKNOWN
        finally:
            self.depth -= 1
            self.r.frames.pop()

    # --- frames ----------------------------------------------------------------------------

    def _bind_parameters(self, function: Node, args: list[Val], frame: dict[str, Val]) -> None:
        params = function.child_by_field_name("parameters") or function.child_by_field_name("parameter")
        if params is None:
            return
        nodes = [params] if params.type == "identifier" else params.named_children
        for index, param in enumerate(nodes):
            if param.type in ("required_parameter", "optional_parameter"):
                param = param.child_by_field_name("pattern") or param
            arg = args[index] if index < len(args) else None
            if param.type == "identifier":
                frame[node_text(param)] = arg if arg is not None else v.UNKNOWN
            elif param.type == "assignment_pattern":
                left, right = param.child_by_field_name("left"), param.child_by_field_name("right")
                if left is not None and left.type == "identifier":
                    default = self.r.evaluate(right) if right is not None and arg is None else v.UNKNOWN
                    frame[node_text(left)] = arg if arg is not None else default
            elif param.type == "array_pattern":
                for position, item in pattern_elements(param):
                    if item.type == "identifier":
                        frame[node_text(item)] = (arg.items[position] if arg is not None and arg.kind == v.ARR
                                                  and position < len(arg.items) else v.UNKNOWN)
            elif param.type == "object_pattern":
                for item in param.named_children:
                    if item.type == "shorthand_property_identifier_pattern":
                        frame[node_text(item)] = self.r.member_of(arg, node_text(item)) if arg else v.UNKNOWN
            elif param.type == "rest_pattern" and param.named_children:
                frame[node_text(param.named_children[0])] = v.Val(v.ARR, items=tuple(args[index:]))

    def _lookup_frame(self, name: str) -> dict[str, Val] | None:
        for frame in reversed(self.r.frames):
            if name in frame:
                return frame
        return None

    def _assign(self, name: str, value: Val) -> None:
        frame = self._lookup_frame(name)
        if frame is None:
            raise GiveUp  # writes to an outer (file-level) variable: side effects we do not model
        frame[name] = value

    def _tick(self) -> None:
        self.steps += 1
        if self.steps > MAX_STEPS or self.r.out_of_budget():
            raise GiveUp

    # --- statements ------------------------------------------------------------------------

    def _block(self, block: Node) -> None:
        for statement in block.named_children:
            self._statement(statement)

    def _statement(self, node: Node) -> None:  # noqa: C901 - one branch per statement kind
        self._tick()
        t = node.type
        if t in _SKIPPED:
            return
        if t in ("lexical_declaration", "variable_declaration"):
            self._declare(node)
        elif t == "expression_statement":
            if node.named_children:
                self.expression(node.named_children[0])
        elif t == "return_statement":
            value = self.r.evaluate(node.named_children[0]) if node.named_children else v.UNKNOWN
            raise _Return(value)
        elif t == "statement_block":
            self._block(node)
        elif t == "if_statement":
            self._if(node)
        elif t == "for_statement":
            self._for(node)
        elif t == "for_in_statement":
            self._for_in(node)
        elif t in ("while_statement", "do_statement"):
            self._while(node, t == "do_statement")
        elif t == "break_statement":
            raise _Break
        elif t == "continue_statement":
            raise _Continue
        elif t in ("function_declaration", "generator_function_declaration"):
            name = node.child_by_field_name("name")
            if name is not None and self.r.frames:
                self.r.frames[-1][node_text(name)] = self.r.function_value(node)
        else:
            raise GiveUp

    def _declare(self, node: Node) -> None:
        frame = self.r.frames[-1]
        for decl in node.named_children:
            if decl.type != "variable_declarator":
                continue
            name = decl.child_by_field_name("name")
            value_node = decl.child_by_field_name("value")
            value = self.r.evaluate(value_node) if value_node is not None else v.UNKNOWN
            if name is None:
                continue
            if name.type == "identifier":
                frame[node_text(name)] = value
            elif name.type == "array_pattern":
                for index, item in pattern_elements(name):
                    if item.type == "identifier":
                        frame[node_text(item)] = (value.items[index] if value.kind == v.ARR
                                                  and index < len(value.items) else v.UNKNOWN)
            else:
                raise GiveUp

    def _if(self, node: Node) -> None:
        condition = node.child_by_field_name("condition")
        truth = self.r.evaluate(condition).truthy if condition is not None else None
        if truth is None:
            raise GiveUp
        branch = node.child_by_field_name("consequence" if truth else "alternative")
        if branch is None:
            return
        if branch.type == "else_clause":
            for child in branch.named_children:
                self._statement(child)
        else:
            self._statement(branch)

    def _holds(self, condition: Node) -> bool:
        """A loop condition's truth; a condition the resolver cannot decide abandons the call."""
        truth = self.r.evaluate(condition).truthy
        if truth is None:
            raise GiveUp
        return truth

    def _loop_body(self, body: Node | None) -> bool:
        """Run one iteration; False when the loop breaks."""
        if body is None:
            return True
        try:
            self._statement(body)
        except _Break:
            return False
        except _Continue:
            pass
        return True

    def _for(self, node: Node) -> None:
        init = node.child_by_field_name("initializer")
        if init is not None:
            if init.type in ("lexical_declaration", "variable_declaration"):
                self._declare(init)
            elif init.type == "expression_statement" and init.named_children:
                self.expression(init.named_children[0])
        condition = node.child_by_field_name("condition")
        increment = node.child_by_field_name("increment")
        body = node.child_by_field_name("body")
        for _ in range(MAX_LOOP):
            self._tick()
            if condition is not None and condition.type not in (";", "empty_statement"):
                cond = condition.named_children[0] if condition.type == "expression_statement" else condition
                if cond.type != "empty_statement" and not self._holds(cond):
                    return
            if not self._loop_body(body):
                return
            if increment is not None:
                self.expression(increment)
        raise GiveUp

    def _for_in(self, node: Node) -> None:
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        body = node.child_by_field_name("body")
        operator = node.child_by_field_name("operator")
        if left is None or right is None or left.type != "identifier":
            raise GiveUp
        subject = self.r.evaluate(right)
        of = operator is not None and node_text(operator) == "of"
        if subject.kind == v.STR:
            items = [v.string(c) for c in subject.text] if of else [v.string(str(i)) for i in range(len(subject.text))]
        elif subject.kind == v.ARR:
            items = list(subject.items) if of else [v.string(str(i)) for i in range(len(subject.items))]
        elif subject.kind == v.OBJ and not of:
            items = [v.string(p.text) for p in subject.items]
        else:
            raise GiveUp
        name = node_text(left)
        frame = self.r.frames[-1]
        for item in items[:MAX_LOOP]:
            self._tick()
            frame[name] = item
            if not self._loop_body(body):
                return

    def _while(self, node: Node, do: bool) -> None:
        condition = node.child_by_field_name("condition")
        body = node.child_by_field_name("body")
        for index in range(MAX_LOOP):
            self._tick()
            if not (do and index == 0) and (condition is None or not self._holds(condition)):
                return
            if not self._loop_body(body):
                return
        raise GiveUp

    # --- expressions with effects ----------------------------------------------------------

    def expression(self, node: Node) -> Val:
        """Evaluate an expression statement, applying the effects the interpreter models."""
        t = node.type
        if t == "parenthesized_expression" and node.named_children:
            return self.expression(node.named_children[0])
        if t == "sequence_expression":
            result = v.UNKNOWN
            for child in node.named_children:
                result = self.expression(child)
            return result
        if t == "assignment_expression":
            return self._assignment(node, None)
        if t == "augmented_assignment_expression":
            operator = node.child_by_field_name("operator")
            op = node_text(operator)[:-1] if operator is not None else ""
            return self._assignment(node, op)
        if t == "update_expression":
            argument = node.child_by_field_name("argument")
            operator = node.child_by_field_name("operator")
            if argument is None or argument.type != "identifier" or operator is None:
                raise GiveUp
            name = node_text(argument)
            old = self.r.evaluate(argument)
            new = ops.binary("+" if node_text(operator) == "++" else "-", v.number(old.number or 0), v.number(1))
            if old.number is None:
                new = v.UNKNOWN
            self._assign(name, new)
            return new
        if t == "call_expression":
            mutated = self._mutating_call(node)
            if mutated is not None:
                return mutated
        if t in ("call_expression", "new_expression", "await_expression", "yield_expression"):
            callee = node.child_by_field_name("function")
            if callee is not None and callee.type == "identifier" and self._lookup_frame(node_text(callee)):
                return self.r.evaluate(node)
            raise GiveUp  # a call whose effects we do not know
        return self.r.evaluate(node)

    def _assignment(self, node: Node, op: str | None) -> Val:
        left = node.child_by_field_name("left")
        right = node.child_by_field_name("right")
        if left is None or right is None:
            raise GiveUp
        value = self.r.evaluate(right)
        if op is not None:
            old = self.r.evaluate(left)
            value = ops.binary(op, old, value) if op in ops.BINARY_OPERATORS else v.UNKNOWN
            if op == "+" and old.kind == v.STR:
                value = v.tainted(value, obfuscated=True)
        if left.type == "identifier":
            self._assign(node_text(left), value)
            return value
        if left.type == "subscript_expression":  # arr[i] = x on a local array
            obj = left.child_by_field_name("object")
            index = left.child_by_field_name("index")
            if obj is not None and obj.type == "identifier" and index is not None:
                current = self.r.evaluate(obj)
                position = self.r.evaluate(index).number
                if current.kind == v.ARR and position is not None and 0 <= position <= len(current.items):
                    items = list(current.items)
                    if int(position) == len(items):
                        items.append(value)
                    else:
                        items[int(position)] = value
                    self._assign(node_text(obj), replace(current, items=tuple(items)))
                    return value
        raise GiveUp

    def _mutating_call(self, call: Node) -> Val | None:
        """``a.push(x)`` / ``a.shift()`` / ``a.reverse()`` on a local array: applied to the frame.

        Returns what the method returns (``shift`` the removed item), or None when ``call`` is not
        such a call. ``a.push(a.shift())`` (the string-array rotation of obfuscators) works because the
        argument is applied first.
        """
        callee = call.child_by_field_name("function")
        if callee is None or callee.type != "member_expression":
            return None
        obj, prop = callee.child_by_field_name("object"), callee.child_by_field_name("property")
        if obj is None or prop is None or obj.type != "identifier" or node_text(prop) not in _MUTATORS:
            return None
        name = node_text(obj)
        if self._lookup_frame(name) is None:
            return None
        args = []
        for arg in self.r.call_arguments(call):
            inner = self._mutating_call(arg) if arg.type == "call_expression" else None
            args.append(inner if inner is not None else self.r.evaluate(arg))
        current = self.r.evaluate(obj)
        if current.kind != v.ARR:
            raise GiveUp
        items = list(current.items)
        method = node_text(prop)
        result: Val = v.UNKNOWN
        if method == "push":
            items.extend(args)
            result = v.number(len(items))
        elif method == "unshift":
            items[:0] = args
            result = v.number(len(items))
        elif method == "pop" and items:
            result = items.pop()
        elif method == "shift" and items:
            result = items.pop(0)
        elif method == "reverse":
            items.reverse()
        self._assign(name, replace(current, items=tuple(items[: v.MAX_ITEMS])))
        return result
