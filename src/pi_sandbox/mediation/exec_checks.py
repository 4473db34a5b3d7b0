"""Per-program checks: what one already-unwrapped command does (``rm``, ``dd``, ``curl``, ``systemctl``...).

Each check receives the program's base name and its argument words and reports findings through
``emit(class, rule)``. It returns the *roles* the program plays in a pipeline (fetches from the
network, reads stdin as a program, sends stdin to another host...), which the classifier combines
across pipeline stages.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence

from pi_sandbox.mediation import exec_rules as R
from pi_sandbox.mediation.exec_paths import delete_scope, normalize_path, reads_credentials, write_target_class
from pi_sandbox.mediation.shell_ast import Word

Emit = Callable[[str, str], None]

_LOOPBACK_URL = re.compile(r"^(?:[a-z]+://)?(?:localhost|127\.\d+\.\d+\.\d+|\[::1\]|0\.0\.0\.0)(?:[:/]|$)", re.I)
_REMOTE_SPEC = re.compile(r"^(?:[\w.+-]+@)?[\w.-]+:(?!//)")
_SETUID_MODE = re.compile(r"^(?:[ugoa]*\+[rwxXt]*s[rwxXt]*|[2467][0-7]{3})$")
_WIDE_MODE = re.compile(r"^(?:0?[0-7]?[0-7][0-7][67]|[ugoa]*[ao]\+[rwx]*w[rwx]*|a\+rwx|o\+w|\+w|777|666)$")
_MKFS = re.compile(r"^(?:mkfs(?:\.\w+)?|mke2fs|mkswap|newfs(?:_\w+)?)$")


def options_and_operands(args: Sequence[Word]) -> tuple[list[str], list[Word]]:
    """Split arguments into option texts and operand words (``--`` ends options)."""
    opts: list[str] = []
    operands: list[Word] = []
    ended = False
    for word in args:
        text = word.text
        if not ended and text == "--":
            ended = True
        elif not ended and text.startswith("-") and len(text) > 1:
            opts.append(text)
        else:
            operands.append(word)
    return opts, operands


def _has_short(opts: list[str], letters: str) -> bool:
    return any(o.startswith("-") and not o.startswith("--") and any(ch in o[1:] for ch in letters) for o in opts)


def check_delete(name: str, args: Sequence[Word], emit: Emit, *, scoped_cwd: bool = False) -> None:
    """rm / rmdir / unlink / shred / srm (``scoped_cwd``: an earlier ``cd`` went into a subdirectory)."""
    opts, targets = options_and_operands(args)
    recursive = _has_short(opts, "rR") or "--recursive" in opts or name == "srm"
    if name == "shred":
        for target in targets:
            if normalize_path(target.text).startswith("/dev/"):
                emit("disk_wipe", "shred_device")
            else:
                emit("file_delete", "shred_file")
        return
    for target in targets:
        if recursive:
            found = delete_scope(target, scoped_cwd=scoped_cwd)
            if found:
                emit(*found)
        elif R.ACCOUNT_FILE_RE.match(normalize_path(target.text)):
            emit("credential_file_modification", "delete_account_file")


def check_dd(args: Sequence[Word], emit: Emit) -> None:
    """dd of=... writes a device (or an account / startup file)."""
    for word in args:
        if word.text.startswith("of="):
            found = write_target_class(word.text[3:])
            if found:
                emit(found[0], "dd_" + found[1])


def check_disk_tool(name: str, args: Sequence[Word], emit: Emit) -> None:
    """mkfs*, fdisk, parted, wipefs...: formatting or partitioning a disk."""
    texts = [w.text for w in args]
    if name in ("fdisk", "sfdisk", "parted", "gdisk", "sgdisk") and any(t in ("-l", "--list", "print") for t in texts):
        return
    if name == "diskutil" and not any(
        t in ("eraseDisk", "eraseVolume", "zeroDisk", "secureErase", "partitionDisk", "reformat") for t in texts
    ):
        return
    if name == "hdparm" and not any("security-erase" in t or t == "--trim-sector-ranges" for t in texts):
        return
    emit("disk_wipe" if name in ("wipefs", "blkdiscard", "hdparm") else "device_write", f"disk_tool_{name}")


def check_chmod(name: str, args: Sequence[Word], emit: Emit) -> None:
    """chmod / chown / chgrp / setcap."""
    opts, operands = options_and_operands(args)
    recursive = _has_short(opts, "R") or "--recursive" in opts
    if name == "setcap":
        emit("privilege_escalation", "setcap")
        return
    targets = operands[1:] if operands else []
    if name == "chmod" and operands:
        mode = operands[0].text
        for part in mode.split(","):
            if _SETUID_MODE.match(part):
                emit("privilege_escalation", "chmod_setuid")
            elif _WIDE_MODE.match(part):
                emit("permission_escalation", "chmod_world_writable")
    for target in targets:
        norm = normalize_path(target.text)
        if recursive and (norm in R.SYSTEM_DIRS or norm == "~"):
            emit("permission_escalation", f"{name}_recursive_system_dir")
        if R.ACCOUNT_FILE_RE.match(norm):
            emit("credential_file_modification", f"{name}_account_file")


def check_kill(name: str, args: Sequence[Word], emit: Emit) -> None:
    """kill / pkill / killall: all processes, init, sshd."""
    texts = [w.text for w in args]
    operands = [t for t in texts if not t.startswith("-") or t == "-1"]
    if name in ("killall", "killall5"):
        emit("process_termination", name)
        return
    if name == "pkill":
        if any(t in R.PROTECTED_PROCESSES for t in operands):
            emit("process_termination", "pkill_system_process")
        else:
            emit("process_signal", "pkill")
        return
    if any(t in ("-1", "1") for t in operands) or "-1" in texts[-1:]:
        emit("process_termination", "kill_init_or_all")
    else:
        emit("process_signal", "kill")


def check_service(name: str, args: Sequence[Word], emit: Emit) -> None:
    """systemctl / service / launchctl / init / crontab / at."""
    texts = [w.text for w in args if not w.text.startswith("-")]
    verb = texts[0] if texts else ""
    if name in ("init", "telinit"):
        if verb in ("0", "6"):
            emit("system_shutdown", f"{name}_{verb}")
    elif name == "systemctl":
        if verb in (
            "poweroff",
            "reboot",
            "halt",
            "suspend",
            "hibernate",
            "kexec",
            "rescue",
            "emergency",
            "soft-reboot",
            "hybrid-sleep",
        ):
            emit("system_shutdown", f"systemctl_{verb}")
        elif verb in ("enable", "link", "preset", "set-default", "add-wants", "reenable", "edit"):
            emit("persistence", f"systemctl_{verb}")
        elif verb in ("stop", "disable", "mask", "kill") and any(
            t.split(".")[0] in R.SECURITY_SERVICES for t in texts[1:]
        ):
            emit("security_disable", f"systemctl_{verb}_security_service")
    elif name == "service":
        if len(texts) >= 2 and texts[0] in R.SECURITY_SERVICES and texts[1] in ("stop", "disable"):
            emit("security_disable", "service_stop_security")
    elif name == "launchctl":
        if verb in ("load", "bootstrap", "submit", "enable"):
            emit("persistence", f"launchctl_{verb}")
        elif verb in ("reboot",):
            emit("system_shutdown", "launchctl_reboot")
    elif name == "crontab":
        flags = [w.text for w in args if w.text.startswith("-")]
        if not (flags == ["-l"] and not texts):
            emit("persistence", "crontab_modify")
    elif name in ("at", "batch", "update-rc.d", "chkconfig", "schtasks"):
        if not any(w.text in ("-l", "-q") for w in args):
            emit("persistence", f"{name}_schedule")


def check_network(name: str, args: Sequence[Word], emit: Emit) -> set[str]:
    """curl / wget / nc / socat / telnet / scp / rsync / ssh-family: roles and exfil findings."""
    texts = [w.text for w in args]
    roles: set[str] = set()
    urls = [t for t in texts if "://" in t or re.match(r"^[\w.-]+\.[a-z]{2,}(?:[:/]|$)", t)]
    local = bool(urls) and all(_LOOPBACK_URL.match(u) for u in urls)
    if name in ("curl", "wget", "http", "https", "xh", "httpie", "aria2c", "fetch"):
        roles.add("fetcher")
        emit("network_fetch", f"{name}_request")
        upload_flags = (
            "-d",
            "--data",
            "--data-binary",
            "--data-raw",
            "--data-urlencode",
            "--json",
            "-F",
            "--form",
            "-T",
            "--upload-file",
            "--post-file",
            "--body-file",
        )
        file_flags = ("-T", "--upload-file", "--post-file", "--body-file")
        for i, text in enumerate(texts):
            flag, value = _flag_value(text, texts[i + 1] if i + 1 < len(texts) else None, upload_flags)
            if flag is None or value is None:
                continue
            payload = value.split("=", 1)[1] if flag in ("-F", "--form") and "=" in value else value
            reads_file = payload.startswith(("@", "<")) or flag in file_flags
            source = payload.lstrip("@<")
            if reads_file and source == "-":
                roles.add("sink")
            elif reads_file and reads_credentials(source):
                emit("credential_exfil", f"{name}_upload_credential_file")
            elif reads_file and not local:
                emit("data_exfil", f"{name}_upload_file")
    elif name in R.NETCAT:
        roles |= {"netcat", "sink", "fetcher"}
        if any(t in ("-e", "-c", "--exec", "--sh-exec", "--lua-exec") or re.match(r"^-\w*e$", t) for t in texts):
            emit("reverse_shell", f"{name}_exec")
        if any(t in ("-l", "--listen") or re.match(r"^-\w*l\w*$", t) for t in texts):
            emit("network_listener", f"{name}_listen")
    elif name == "socat":
        roles |= {"netcat", "sink", "fetcher"}
        joined = " ".join(texts).lower()
        if re.search(r"\b(?:exec|system):", joined) and re.search(r"tcp|udp|ssl|openssl", joined):
            emit("reverse_shell", "socat_exec")
    elif name == "telnet":
        roles |= {"netcat", "sink", "fetcher"}
    elif name == "openssl" and texts[:1] == ["s_client"]:
        roles |= {"netcat", "sink", "fetcher"}
    elif name in ("scp", "rsync", "sftp", "rclone"):
        if any(_REMOTE_SPEC.match(t) for t in texts[1:] if not t.startswith("-")) or name == "sftp":
            emit("remote_copy", f"{name}_remote")
            if any(reads_credentials(t) for t in texts if not t.startswith("-")):
                emit("credential_exfil", f"{name}_credential_file_to_remote")
        if name == "rsync" and any(t.startswith("--delete") for t in texts):
            _opts, operands = options_and_operands(args)
            if operands:
                found = delete_scope(operands[-1])
                if found and found[0] != "file_delete":
                    emit(found[0], "rsync_delete_" + found[1])
    return roles


def _flag_value(text: str, following: str | None, flags: Sequence[str]) -> tuple[str | None, str | None]:
    """Match ``--flag value`` / ``--flag=value`` / ``-Xvalue`` against ``flags``."""
    for flag in flags:
        if text == flag:
            return flag, following
        if text.startswith(flag + "="):
            return flag, text.split("=", 1)[1]
        if len(flag) == 2 and text.startswith(flag) and len(text) > 2:
            return flag, text[2:]
    return None, None


def check_git(args: Sequence[Word], emit: Emit) -> None:
    """git: history-destroying subcommands and config that runs code later."""
    texts = [w.text for w in args]
    sub_index = 0
    while sub_index < len(texts) and texts[sub_index].startswith("-"):
        sub_index += 2 if texts[sub_index] in ("-C", "-c", "--git-dir", "--work-tree") else 1
    if sub_index >= len(texts):
        return
    sub, rest = texts[sub_index], texts[sub_index + 1 :]
    destructive = (
        (sub == "push" and any(t in ("-f", "--force", "--mirror", "--delete") or t.startswith("+") for t in rest))
        or (sub == "reset" and "--hard" in rest)
        or (sub == "clean" and any(t.startswith("-") and "f" in t for t in rest))
        or (sub == "branch" and any(t in ("-D", "--delete") for t in rest))
        or (sub in ("checkout", "restore") and ("." in rest or "--" in rest and rest[-1:] == ["."]))
        or (sub == "stash" and rest[:1] in (["clear"], ["drop"]))
        or sub in ("filter-branch", "filter-repo")
        or (sub == "reflog" and rest[:1] == ["expire"])
    )
    if destructive:
        emit("destructive_vcs", f"git_{sub}")


def check_container(name: str, args: Sequence[Word], emit: Emit) -> None:
    """docker / podman run with the host's root mounted, the host PID namespace or full privileges."""
    texts = [w.text for w in args]
    if not texts or texts[0] not in ("run", "create", "exec"):
        return
    mounts: list[str] = []
    for i, text in enumerate(texts):
        if text in ("-v", "--volume", "--mount") and i + 1 < len(texts):
            mounts.append(texts[i + 1])
        elif text.startswith(("--volume=", "--mount=")):
            mounts.append(text.split("=", 1)[1])
        elif text.startswith("-v") and len(text) > 2:
            mounts.append(text[2:])
    host_root = any(m.split(":", 1)[0] == "/" or re.search(r"(?:^|,)(?:source|src)=/(?:,|$)", m) for m in mounts)
    if host_root or "--privileged" in texts or "--pid=host" in texts or "--userns=host" in texts:
        emit("privilege_escalation", f"{name}_host_escape")


def check_writers(name: str, args: Sequence[Word], emit: Emit) -> None:
    """tee / cp / mv / sed -i / truncate / curl -o ...: the files they write."""
    opts, operands = options_and_operands(args)
    texts = [w.text for w in args]
    if name in ("sed", "perl") and not any(
        o.startswith("-i") or (o.startswith("-") and "i" in o[1:] and not o.startswith("--")) for o in opts
    ):
        return
    if name in ("curl", "wget"):
        dests = [texts[i + 1] for i, t in enumerate(texts[:-1]) if t in ("-o", "--output", "-O", "--output-document")]
        dests += [t.split("=", 1)[1] for t in texts if t.startswith(("--output=", "--output-document="))]
    elif name == "ln":
        # a link *to* a sensitive file lets a later harmless-looking write go through it
        dests = [w.text for w in operands]
    elif name in R.DEST_LAST:
        dests = [operands[-1].text] if len(operands) >= 2 else []
        dests += [t.split("=", 1)[1] for t in texts if t.startswith("--target-directory=")]
    elif name == "dd":
        return
    else:
        dests = [w.text for w in operands]
    for dest in dests:
        found = write_target_class(dest)
        if found:
            emit(found[0], f"{name}_{found[1]}")


def check_history(name: str, args: Sequence[Word], emit: Emit) -> None:
    """history -c, unset HISTFILE, HISTFILE=/dev/null: covering tracks."""
    texts = [w.text for w in args]
    if name == "history" and any(t in ("-c", "-w", "-d") or t.startswith("-c") for t in texts):
        emit("history_tamper", "history_clear")
    elif name in ("unset", "export") and any(
        t.split("=")[0] in ("HISTFILE", "HISTSIZE", "HISTFILESIZE") for t in texts
    ):
        emit("history_tamper", f"{name}_histfile")


def check_credentials(name: str, args: Sequence[Word], emit: Emit) -> set[str]:
    """Any program other than the credential users reading a credential file."""
    if name in R.CREDENTIAL_USERS:
        return set()
    if any(reads_credentials(w.text) for w in args):
        emit("credential_read", "read_credential_file")
        return {"secret_source"}
    if name in ("security",) and any(
        w.text in ("find-generic-password", "find-internet-password", "dump-keychain") for w in args
    ):
        emit("credential_read", "keychain_dump")
        return {"secret_source"}
    return set()


def fetch_outputs(name: str, texts: Sequence[str]) -> list[str]:
    """Files a ``curl`` / ``wget`` command line saves what it downloads to."""
    outs: list[str] = []
    urls = [t for t in texts if "://" in t]
    remote_name = False
    for i, text in enumerate(texts):
        following = texts[i + 1] if i + 1 < len(texts) else ""
        if text in ("-o", "--output", "--output-document") or (name != "curl" and text == "-O"):
            outs.append(following)
        elif text.startswith(("--output=", "--output-document=")):
            outs.append(text.split("=", 1)[1])
        elif name == "curl" and text in ("-O", "--remote-name", "--remote-name-all"):
            remote_name = True
        elif name == "curl" and re.fullmatch(r"-[A-Za-z]*o", text):
            outs.append(following)  # -fsSLo FILE
        elif name != "curl" and re.fullmatch(r"-[A-Za-z]*O.*", text):
            value = text.split("O", 1)[1]
            outs.append(value or following)  # -qO- / -qOfile
        elif text.startswith("-o") and len(text) > 2 and not text.startswith("--"):
            outs.append(text[2:])
    if (remote_name or (name == "wget" and not outs)) and urls:
        outs.extend(u.rstrip("/").rsplit("/", 1)[-1].split("?")[0] or "index.html" for u in urls)
    return [o for o in outs if o and o != "-"]
