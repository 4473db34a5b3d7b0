"""Properties: the scanner never crashes on arbitrary input, and text in comments/strings is inert."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from pi_sandbox.scanner.walker import scan_source

DANGEROUS = [
    "eval(x)", "new Function('a')", "process.binding('fs')", "require('vm')", "import('node:vm')",
    "globalThis['ev' + 'al'](1)", "Object.prototype.x = 1", "setTimeout('x()')", "require.cache[k] = 1",
    "\\u0065val(x)", "(0, eval)(y)",
]
TOKENS = ["eval", "(", ")", "[", "]", "'", '"', "`", "${", "}", "{", "+", ".", "\\u0065", "/*", "*/", "//", "\n",
          "\u2028", "require", "process", "globalThis", "constructor", "__proto__", "=", ";", ",", "Function", "new",
          "import", "x", "1", " ", "=>", "<T>", "as any", "!", "?.", "atob('ZXZhbA==')"]


@settings(max_examples=150, deadline=None)
@given(st.lists(st.sampled_from(TOKENS), max_size=60), st.sampled_from(["javascript", "typescript", "tsx"]))
def test_scanner_never_crashes_on_token_soup(tokens: list[str], language: str) -> None:
    result = scan_source("".join(tokens).encode(), "fuzz.js", language)
    for finding in result.findings:
        assert finding.line >= 1 and finding.column >= 1 and len(finding.excerpt) <= 121


@settings(max_examples=60, deadline=None)
@given(st.binary(max_size=400))
def test_scanner_never_crashes_on_arbitrary_bytes(data: bytes) -> None:
    scan_source(data, "bytes.js", "javascript")


@settings(max_examples=80, deadline=None)
@given(st.sampled_from(DANGEROUS), st.sampled_from(["line", "block", "string", "template", "jsdoc"]))
def test_dangerous_code_inside_comments_and_strings_is_inert(code: str, wrapper: str) -> None:
    escaped = code.replace("\\", "\\\\")
    text = {
        "line": f"// {code}\nexport const a = 1;\n",
        "block": f"/* {code} */\nexport const a = 1;\n",
        "jsdoc": f"/**\n * Example: {code}\n */\nexport function f() {{ return 1; }}\n",
        "string": "export const s = " + repr(escaped).replace("\\\\\\\\", "\\\\") + ";\n",
        "template": "export const t = `" + escaped.replace("`", "\\`").replace("${", "\\${") + "`;\n",
    }[wrapper]
    findings = scan_source(text.encode(), "x.ts", "typescript").findings
    assert [f.rule_id for f in findings] == [], text


@settings(max_examples=60, deadline=None)
@given(st.sampled_from(DANGEROUS), st.sampled_from(["", "  ", "\n", "\u2028"]))
def test_dangerous_code_is_forbidden_wherever_it_sits(code: str, separator: str) -> None:
    text = f"export const a = 1;{separator}{code};{separator}export const b = 2;\n"
    findings = scan_source(text.encode(), "x.js", "javascript").findings
    assert any(f.cls == "forbidden" for f in findings), text
