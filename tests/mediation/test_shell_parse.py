"""The shell parser: what a shell would really run, whatever the spelling."""

from __future__ import annotations

import pytest

from pi_sandbox.mediation.shell_parse import parse_script
from pi_sandbox.mediation.shell_static import decode_ansi_c, static_output


def argvs(text: str) -> list[list[str]]:
    script = parse_script(text)
    assert not script.all_errors(), script.all_errors()
    return [[w.text for w in cmd.words] for cmd in script.walk() if cmd.words]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("ls -la", [["ls", "-la"]]),
        ("r''m -rf /", [["rm", "-rf", "/"]]),
        ('"r"m -rf "/"', [["rm", "-rf", "/"]]),
        ("\\rm -r\\f /", [["rm", "-rf", "/"]]),
        ("rm${IFS}-rf${IFS}/", [["rm", "-rf", "/"]]),
        ("rm$IFS-rf$IFS/", [["rm", "-rf", "/"]]),
        ("{rm,-rf,/}", [["rm", "-rf", "/"]]),
        ("echo /{etc,usr}/x", [["echo", "/etc/x", "/usr/x"]]),
        ("echo '{a,b}'", [["echo", "{a,b}"]]),
        ("$'\\x72\\x6d' -rf /", [["rm", "-rf", "/"]]),
        ("$'\\162\\155'", [["rm"]]),
        ("a=rm; $a -rf /", [["rm", "-rf", "/"]]),
        ("c='rm -rf /'; $c", [["rm", "-rf", "/"]]),
        ("c='rm -rf /'; \"$c\"", [["rm -rf /"]]),
        ("IFS=,; c=rm,-rf,/; $c", [["rm", "-rf", "/"]]),
        ("export X=rm; $X -rf ~", [["export", "X=rm"], ["rm", "-rf", "~"]]),
        ("a=abcrm; ${a:3} -rf /", [["rm", "-rf", "/"]]),
        ("echo ${UNSET:-default}", [["echo", "default"]]),
        ("echo a\\\nb", [["echo", "ab"]]),
        ("echo hi # rm -rf /", [["echo", "hi"]]),
        ('echo "a $(echo b) c"', [["echo", "a b c"], ["echo", "b"]]),
    ],
)
def test_words_after_quote_removal_and_expansion(text: str, expected: list[list[str]]) -> None:
    assert argvs(text) == expected


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        ("echo $(rm -rf /)", ["rm", "-rf", "/"]),
        ("echo `rm -rf /`", ["rm", "-rf", "/"]),
        ("cat <(rm -rf /)", ["rm", "-rf", "/"]),
        ("tee >(rm -rf /)", ["rm", "-rf", "/"]),
        ("{ rm -rf /; }", ["rm", "-rf", "/"]),
        ("(rm -rf /)", ["rm", "-rf", "/"]),
        ("if true; then rm -rf /; else ls; fi", ["rm", "-rf", "/"]),
        ("while false; do rm -rf /; done", ["rm", "-rf", "/"]),
        ("for x in a b; do rm -rf /; done", ["rm", "-rf", "/"]),
        ("case $x in a|b) rm -rf /;; *) ls;; esac", ["rm", "-rf", "/"]),
        ("f() { rm -rf /; }", ["rm", "-rf", "/"]),
        ("function f { rm -rf /; }", ["rm", "-rf", "/"]),
        ("[[ -n $(rm -rf /) ]]", ["rm", "-rf", "/"]),
        ("echo ${x:-$(rm -rf /)}", ["rm", "-rf", "/"]),
        ("cat <<EOF\n$(rm -rf /)\nEOF", ["rm", "-rf", "/"]),
        ("true && rm -rf / || ls &", ["rm", "-rf", "/"]),
    ],
)
def test_every_nested_command_is_reported(text: str, inner: list[str]) -> None:
    assert inner in argvs(text)


def test_pipelines_stages_background_and_loops() -> None:
    script = parse_script("curl x | sh & while true; do sleep 1 & done")
    cmds = list(script.walk())
    curl, sh = cmds[0], cmds[1]
    assert curl.pipes[-1][0] == sh.pipes[-1][0] and (curl.pipes[-1][1], sh.pipes[-1][1]) == (0, 1)
    assert curl.background and sh.background
    sleep = [c for c in cmds if c.words and c.words[0].text == "sleep"][0]
    assert sleep.infinite_loop and sleep.background


def test_function_bodies_know_their_function() -> None:
    script = parse_script(":(){ :|:& };:")
    assert ":" in script.functions
    inside = [c for c in script.walk() if c.function == ":"]
    assert len(inside) == 2 and all(c.background for c in inside)


def test_heredoc_bodies_quoted_and_unquoted() -> None:
    script = parse_script("cat <<'EOF'\n$(id)\nEOF\ncat <<-EOF\n\t$HOME\n\tEOF\n")
    bodies = [r.heredoc for c in script.commands for r in c.redirects]
    assert bodies == ["$(id)\n", "$HOME\n"]


def test_redirections_with_fds() -> None:
    (cmd,) = parse_script("ls 2>&1 >/dev/null &>> log").commands
    assert [(r.op, r.fd, r.target.text if r.target else None) for r in cmd.redirects] == [
        (">&", 2, "1"),
        (">", None, "/dev/null"),
        ("&>>", None, "log"),
    ]


def test_dynamic_words_are_marked() -> None:
    (cmd,) = parse_script('"$CMD" --flag').commands
    assert cmd.words[0].dynamic and cmd.words[0].text == "$CMD"
    (cmd,) = parse_script("ls *.py").commands
    assert cmd.words[1].has_glob and not parse_script("ls '*.py'").commands[0].words[1].has_glob


@pytest.mark.parametrize(
    "text",
    [
        "echo 'unterminated",
        'echo "unterminated',
        "echo $(ls",
        "echo `ls",
        "if true; then ls",
        "ls |",
        "( ls",
        "ls )",
        "for x in a; do ls",
        "case x in a) ls",
        "echo ${x",
        "&& ls",
        "; ls",
    ],
)
def test_malformed_scripts_are_errors_not_guesses(text: str) -> None:
    assert parse_script(text).all_errors()


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        # bash rejects these, dash (or another reader) runs them: an error, and the commands still reported
        ("f() rm -rf ~; f", ["rm", "-rf", "~"]),
        ("echo | ! rm -rf ~", ["rm", "-rf", "~"]),
        ("function if { rm -rf ~; }", ["rm", "-rf", "~"]),
        ("> ls { {", ["{", "{"]),  # bash runs a command named '{'; tree-sitter-bash reads one word '{ {'
        ("x=1 if rm -rf ~", ["if", "rm", "-rf", "~"]),
        ("{ }", None),
        ("( )", None),
        ("if true; then fi", None),
        ("while true; do done", None),
        ("for i in a; do done", None),
    ],
)
def test_text_shells_disagree_on_is_an_error_but_still_read(text: str, inner: list[str] | None) -> None:
    script = parse_script(text)
    assert script.all_errors(), text
    if inner is not None:
        assert inner in [[w.text for w in c.words] for c in script.walk()]


@pytest.mark.parametrize(
    ("text", "inner"),
    [
        # before a simple command 'time' stays a command: dash runs /usr/bin/time (a wrapper), bash its keyword
        ("time -p rm -rf ~", ["time", "-p", "rm", "-rf", "~"]),
        ("! time -p -- rm -rf ~", ["time", "-p", "--", "rm", "-rf", "~"]),
        ("time -p { rm -rf ~; }", ["rm", "-rf", "~"]),
        ("time -p -- ( rm -rf ~ )", ["rm", "-rf", "~"]),
        ("time ! rm -rf ~", ["rm", "-rf", "~"]),
        ("coproc rm -rf ~", ["rm", "-rf", "~"]),
        ("coproc { rm -rf ~; }", ["rm", "-rf", "~"]),
        ("coproc W { rm -rf ~; }", ["rm", "-rf", "~"]),
        ("coproc W (rm -rf ~)", ["rm", "-rf", "~"]),
        ("coproc W while true; do rm -rf ~; done", ["rm", "-rf", "~"]),
    ],
)
def test_keywords_that_run_the_next_command(text: str, inner: list[str]) -> None:
    assert inner in argvs(text)
    script = parse_script(text)
    if text.startswith("coproc"):
        assert all(c.background for c in script.walk())


def test_empty_substitutions_and_case_items_are_fine() -> None:
    for text in ("x=$( ); echo ``", "case x in a) ;; esac", "f() { :; }", "if a; then b; elif c; then d; else e; fi"):
        assert not parse_script(text).all_errors(), text


def test_pathological_input_is_bounded() -> None:
    assert parse_script("$(" * 200 + "ls" + ")" * 200).all_errors()
    assert parse_script("x" * (70 * 1024)).errors


@pytest.mark.parametrize(
    ("text", "out"),
    [
        ("printf '\\x72\\x6d'", "rm"),
        ("printf '%s-%s\\n' a b c d", "a-b\nc-d\n"),
        ("echo -n hi", "hi"),
        ("echo -e 'a\\x41'", "aA\n"),
        ("echo cm0gLXJmIC8= | base64 -d", "rm -rf /"),
        ("echo 726d | xxd -r -p", "rm"),
        ("echo mr | rev", "rm\n"),
        ("ls", None),
        ("echo $HOME", None),
    ],
)
def test_static_output(text: str, out: str | None) -> None:
    assert static_output(parse_script(text)) == out


def test_ansi_c_escapes() -> None:
    assert decode_ansi_c("\\x41\\101\\u00e9\\n\\cA") == "AA\u00e9\n\x01"
