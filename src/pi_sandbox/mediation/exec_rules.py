"""The one place exec mediation's knowledge lives: classes and tiers, binaries, wrappers, paths.

The classifier (``exec_classifier``) only walks parsed commands and looks things up here, so tuning
a rule never means touching parsing code. Tiers: low < medium < high < critical.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Final

TIERS: Final[tuple[str, ...]] = ("low", "medium", "high", "critical")
TIER_RANK: Final[Mapping[str, int]] = {name: i for i, name in enumerate(TIERS)}

#: Command class → risk tier. Every finding the classifier reports names one of these classes.
CLASS_TIER: Final[Mapping[str, str]] = {
    # critical: irreversible damage, a remote shell, code nobody could read before it ran, stolen keys.
    # Denied in every profile; no setting lifts them (see exec_mediation.ExecMediator.decide).
    "recursive_delete": "critical",  # of /, ~, a system top-level dir, a user home, the workspace
    "device_write": "critical",
    "disk_wipe": "critical",
    "fork_bomb": "critical",
    "reverse_shell": "critical",
    "pipe_to_shell": "critical",  # download-then-execute, in any spelling (pipe, <(..), $(..), file)
    "decode_exec": "critical",  # decode-then-execute (base64 | sh, exec(b64decode(..)), eval(Buffer.from(..)))
    "credential_exfil": "critical",  # a credential file or the environment sent to a network sender
    "env_injection": "critical",  # loader / shell-startup / tool-hook variables, unless execMediation.allowEnv
    # more work than one classification does (exec_classifier.MAX_CLASSIFY_*): what was not read could be any of
    # the above (a critical command after 4,096 harmless ones), and the shapes that get here run themselves
    "unclassifiable": "critical",
    # high: escalation, local credential reads, persistence, evasion, code that cannot be read
    "recursive_delete_broad": "high",
    "system_shutdown": "high",
    "privilege_escalation": "high",
    "permission_escalation": "high",
    "credential_read": "high",
    "credential_file_modification": "high",
    "data_exfil": "high",
    "persistence": "high",
    "process_termination": "high",
    "security_disable": "high",
    "obfuscated_command": "high",
    "unparseable": "high",
    "opaque_inline_code": "high",  # interpreter code the analysis cannot see through
    "unreadable_script": "high",  # a script to run that is missing, outside the roots, too large or not text
    # medium: destructive but scoped, or opaque but common
    "file_delete": "medium",
    "command_hook": "medium",  # a tool option / variable that runs a command (the command itself is classified)
    "opaque_binary": "medium",  # a workspace executable that is not a script: the sandbox confines it
    "destructive_vcs": "medium",
    "remote_copy": "medium",
    "dynamic_eval": "medium",
    "shell_from_stdin": "medium",
    "history_tamper": "medium",
    "network_listener": "medium",
    # low: worth an audit record, nothing more
    "network_fetch": "low",
    "process_signal": "low",
}

# ------------------------------------------------------------------------- binaries by role

SHELLS: Final = frozenset(
    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "yash", "posh", "rbash", "pwsh"}
)
#: Interpreters: the language their code is in, the options that carry inline code, and the options
#: that take a separate argument (so the program operand is found). They read a program from stdin
#: when given neither inline code nor a program file.
INTERPRETERS: Final[Mapping[str, tuple[str, frozenset[str], frozenset[str]]]] = {
    "python": ("python", frozenset({"-c"}), frozenset({"-W", "-X", "-Q"})),
    "pypy": ("python", frozenset({"-c"}), frozenset({"-W", "-X"})),
    "perl": ("perl", frozenset({"-e", "-E"}), frozenset({"-I", "-M", "-m", "-x"})),
    "ruby": ("ruby", frozenset({"-e"}), frozenset({"-I", "-r", "-C", "-E", "--encoding"})),
    "node": ("javascript", frozenset({"-e", "--eval", "-p", "--print"}),
             frozenset({"-r", "--require", "--import", "--loader", "--experimental-loader", "-C", "--conditions",
                        "--input-type", "--title", "--env-file", "--stack-size"})),
    "nodejs": ("javascript", frozenset({"-e", "--eval", "-p", "--print"}), frozenset({"-r", "--require", "--import"})),
    "bun": ("javascript", frozenset({"-e", "--eval", "-p", "--print"}), frozenset({"-r", "--preload", "--cwd"})),
    "deno": ("javascript", frozenset({"eval"}), frozenset({"--config", "-c", "--import-map", "--location"})),
    "tsx": ("javascript", frozenset({"-e", "--eval", "-p", "--print"}), frozenset()),
    "ts-node": ("javascript", frozenset({"-e", "--eval", "-p", "--print"}), frozenset({"-r", "--require"})),
    "php": ("php", frozenset({"-r", "-B", "-R", "-E"}), frozenset({"-c", "-d", "-z"})),
    "lua": ("lua", frozenset({"-e"}), frozenset({"-l"})),
    "luajit": ("lua", frozenset({"-e"}), frozenset({"-l", "-j", "-O"})),
    "tclsh": ("tcl", frozenset(), frozenset({"-encoding"})),
    "wish": ("tcl", frozenset(), frozenset({"-encoding"})),
    "expect": ("tcl", frozenset({"-c"}), frozenset({"-f"})),
    "awk": ("awk", frozenset({"-e", "--source"}), frozenset({"-F", "-v", "--assign", "--field-separator", "-i",
                                                              "--include", "-l", "--load"})),
    "gawk": ("awk", frozenset({"-e", "--source"}), frozenset({"-F", "-v", "--assign", "--field-separator", "-i",
                                                               "--include", "-l", "--load"})),
    "mawk": ("awk", frozenset(), frozenset({"-F", "-v", "-W"})),
    "nawk": ("awk", frozenset(), frozenset({"-F", "-v"})),
    "busybox-awk": ("awk", frozenset(), frozenset({"-F", "-v"})),
    "osascript": ("applescript", frozenset({"-e"}), frozenset({"-l", "-s"})),
}
#: Languages of scripts by the interpreter a shebang names (shells are ``shell``).
SHEBANG_LANG: Final[Mapping[str, str]] = {
    **{name: spec[0] for name, spec in INTERPRETERS.items()},
    "make": "make", "gmake": "make", "sed": "sed", "ts-node": "javascript", "tsx": "javascript",
}
#: Programs that fetch from the network and write what they got to stdout or a file.
FETCHERS: Final = frozenset(
    {
        "curl",
        "wget",
        "http",
        "https",
        "xh",
        "httpie",
        "fetch",
        "aria2c",
        "lwp-request",
        "lwp-download",
        "GET",
        "iwr",
        "invoke-webrequest",
        "tftp",
        "ftp",
    }
)
#: Programs that can carry stdin or files to another host.
NETWORK_SINKS: Final = frozenset(
    {"nc", "ncat", "netcat", "socat", "telnet", "ssh", "openssl", "curl", "wget", "cryptcat", "pwncat", "sbd"}
)
NETCAT: Final = frozenset({"nc", "ncat", "netcat", "cryptcat", "pwncat", "sbd"})
#: Programs that dump the environment (and so any secret in it).
ENV_DUMPERS: Final = frozenset({"env", "printenv", "set", "export", "declare", "compgen"})
DECODERS: Final = frozenset({"base64", "base32", "xxd", "openssl", "uudecode", "gpg", "gzip", "zcat", "rev", "tr"})
SHUTDOWN: Final = frozenset({"shutdown", "reboot", "halt", "poweroff", "kexec"})
DISK_TOOLS: Final = frozenset(
    {
        "fdisk",
        "sfdisk",
        "cfdisk",
        "gdisk",
        "sgdisk",
        "parted",
        "wipefs",
        "mkswap",
        "diskutil",
        "format",
        "blkdiscard",
        "hdparm",
    }
)
PRIV_RUNNERS: Final = frozenset({"sudo", "doas", "su", "pkexec", "runuser", "sudoedit", "run0", "calife"})
ACCOUNT_TOOLS: Final = frozenset(
    {
        "useradd",
        "usermod",
        "userdel",
        "adduser",
        "deluser",
        "passwd",
        "chpasswd",
        "visudo",
        "gpasswd",
        "groupadd",
        "groupmod",
        "vipw",
        "chsh",
        "newusers",
        "pwck",
    }
)
SECURITY_TOOLS: Final = frozenset(
    {"setenforce", "ufw", "iptables", "ip6tables", "nft", "aa-disable", "auditctl", "spctl", "csrutil", "firewall-cmd"}
)
SECURITY_SERVICES: Final = frozenset(
    {
        "firewalld",
        "ufw",
        "apparmor",
        "auditd",
        "selinux",
        "fail2ban",
        "clamav-daemon",
        "falco",
        "osqueryd",
        "crowdstrike",
        "falcon-sensor",
        "sshd",
        "ssh",
    }
)
PROTECTED_PROCESSES: Final = frozenset({"init", "systemd", "sshd", "launchd", "dockerd", "containerd", "1"})
VCS: Final = frozenset({"git"})
#: Commands that only look a name up or test something; their arguments never run.
INERT: Final = frozenset({"which", "type", "whereis", "hash", "man", "help", "whatis", "apropos"})
#: Programs allowed to use credential files without that counting as exfiltration.
CREDENTIAL_USERS: Final = frozenset(
    {
        "ssh",
        "ssh-add",
        "ssh-keygen",
        "ssh-copy-id",
        "gpg",
        "gpg2",
        "aws",
        "gcloud",
        "az",
        "kubectl",
        "helm",
        "docker",
        "git",
        "chmod",
        "chown",
        "ls",
        "stat",
        "test",
        "[",
        "[[",
        "mkdir",
        "touch",
        "file",
        "du",
    }
)
#: Programs that write to (some of) their path arguments.
WRITERS: Final = frozenset(
    {
        "tee",
        "cp",
        "mv",
        "install",
        "ln",
        "dd",
        "truncate",
        "rsync",
        "scp",
        "sed",
        "perl",
        "ed",
        "ex",
        "vi",
        "vim",
        "nano",
        "patch",
        "sponge",
        "tar",
        "unzip",
        "curl",
        "wget",
    }
)
#: Writers whose destination is their last path argument (sources may be anything).
DEST_LAST: Final = frozenset({"cp", "mv", "install", "ln", "rsync", "scp"})

# ------------------------------------------------------------------------- wrappers
#: Wrapper → options that take a separate argument. The wrapped command starts at the first operand
#: after the options (``timeout`` additionally skips its DURATION operand).
WRAPPERS: Final[Mapping[str, frozenset[str]]] = {
    "sudo": frozenset(
        {
            "-u",
            "-g",
            "-C",
            "-D",
            "-h",
            "-p",
            "-r",
            "-t",
            "-U",
            "-T",
            "-R",
            "--user",
            "--group",
            "--chdir",
            "--prompt",
            "--role",
            "--type",
            "--host",
            "--other-user",
            "--close-from",
        }
    ),
    "doas": frozenset({"-u", "-C"}),
    "pkexec": frozenset({"--user"}),
    "run0": frozenset({"-u", "--user", "-D", "--chdir"}),
    "runuser": frozenset({"-u", "-g", "-G", "--user", "--group"}),
    "env": frozenset({"-u", "--unset", "-C", "--chdir", "-P", "-S", "--split-string", "-a", "--argv0"}),
    "nice": frozenset({"-n", "--adjustment"}),
    "ionice": frozenset({"-c", "-n", "-p", "-P", "-u", "--class", "--classdata"}),
    "nohup": frozenset(),
    "setsid": frozenset(),
    "timeout": frozenset({"-s", "--signal", "-k", "--kill-after"}),
    "stdbuf": frozenset({"-i", "-o", "-e", "--input", "--output", "--error"}),
    "command": frozenset(),
    "builtin": frozenset(),
    "exec": frozenset({"-a"}),
    "time": frozenset({"-f", "--format", "-o", "--output"}),
    "chrt": frozenset(),
    "taskset": frozenset(),  # -c/-a/-p are flags; the mask is the skipped operand
    "unbuffer": frozenset(),
    "chroot": frozenset({"--userspec", "--groups"}),
    "flock": frozenset({"-w", "--timeout", "-E", "--conflict-exit-code"}),
    "catchsegv": frozenset(),
    "strace": frozenset({"-o", "-e", "-p", "-s", "-u", "-E"}),
    "ltrace": frozenset({"-o", "-e", "-p", "-s", "-u"}),
    "firejail": frozenset(),
    "proot": frozenset({"-r", "-b", "-w"}),
    "caffeinate": frozenset({"-t", "-w"}),
    "systemd-run": frozenset({"-p", "--property", "-u", "--unit", "--uid", "--gid", "-E", "--setenv"}),
    "sg": frozenset(),
    "doppler": frozenset(),
    "unshare": frozenset(),
    "nsenter": frozenset({"-t", "--target"}),
    "xvfb-run": frozenset({"-a", "-s", "-n"}),
    "torsocks": frozenset(),
    "direnv": frozenset(),
    "proxychains": frozenset({"-f"}),
    "proxychains4": frozenset({"-f"}),
    "fakeroot": frozenset({"-l", "--lib", "--faked", "-s", "-i", "-b"}),
    "valgrind": frozenset(),
    "dbus-launch": frozenset({"--config-file", "--autolaunch"}),
    "dbus-run-session": frozenset({"--config-file", "--dbus-daemon"}),
    "ssh-agent": frozenset({"-a", "-E", "-P", "-t", "-O"}),
    "setpriv": frozenset({"--reuid", "--regid", "--groups", "--inh-caps", "--ambient-caps", "--bounding-set",
                          "--securebits", "--selinux-label", "--apparmor-profile", "--landlock-access",
                          "--landlock-rule", "--pdeathsig"}),
    "prlimit": frozenset({"-p", "--pid", "-o", "--output"}),
    "numactl": frozenset({"-C", "-N", "-m", "-p", "-i", "--physcpubind", "--cpunodebind", "--membind",
                          "--preferred", "--interleave"}),
    "cgexec": frozenset({"-g"}),
    # perf's subcommand (stat, record, trace ...) is skipped before its options (see the classifier)
    "perf": frozenset({"-e", "--event", "-r", "--repeat", "-o", "--output", "-p", "--pid", "-t", "--tid", "-C",
                       "--cpu", "-G", "--cgroup", "-x", "--field-separator", "-I", "--interval-print"}),
    "bwrap": frozenset({"--uid", "--gid", "--hostname", "--chdir", "--unsetenv", "--lock-file", "--sync-fd",
                        "--tmpfs", "--dev", "--proc", "--mqueue", "--dir", "--remount-ro", "--seccomp",
                        "--add-seccomp-fd", "--info-fd", "--json-status-fd", "--userns", "--userns2", "--pidns",
                        "--cap-add", "--cap-drop", "--perms", "--size", "--exec-label", "--file-label",
                        "--block-fd", "--userns-block-fd", "--argv0", "--args"}),
}
#: Wrapper options that take two separate arguments (``bwrap --bind SRC DEST``).
WRAPPER_TWO_ARGS: Final[Mapping[str, frozenset[str]]] = {
    "bwrap": frozenset({"--bind", "--bind-try", "--dev-bind", "--dev-bind-try", "--ro-bind", "--ro-bind-try",
                        "--symlink", "--setenv", "--file", "--bind-data", "--ro-bind-data", "--chmod",
                        "--overlay-src", "--overlay", "--tmp-overlay", "--ro-overlay", "--bind-fd", "--ro-bind-fd"}),
}
#: Wrappers whose first operand is not the command (``timeout 5 cmd``, ``chroot DIR cmd``, ``flock FILE cmd``).
WRAPPER_SKIP_OPERANDS: Final[Mapping[str, int]] = {
    "timeout": 1,
    "chroot": 1,
    "flock": 1,
    "taskset": 1,
    "chrt": 1,
    "sg": 1,
    "direnv": 2,  # direnv exec DIR cmd
}
#: Wrappers that join their operands and hand them to ``sh -c``.
SHELL_JOINING: Final = frozenset({"watch", "su", "script", "parallel", "ssh", "eval", "trap"})
#: Wrappers that mean "run as another (usually more privileged) user".
ESCALATING_WRAPPERS: Final = frozenset({"sudo", "doas", "pkexec", "run0", "runuser", "su", "nsenter", "chroot"})

# ------------------------------------------------------------------------- paths
_HOME = r"(?:~|\$HOME|\$\{HOME\}|/root|/home/[^/]+|/Users/[^/]+)"
HOME_PREFIX_RE: Final = re.compile(rf"^{_HOME}(?=/|$)")

#: System top-level directories: deleting one (or everything in it) breaks the machine.
SYSTEM_DIRS: Final = frozenset(
    {
        "/",
        "/bin",
        "/boot",
        "/dev",
        "/etc",
        "/home",
        "/lib",
        "/lib32",
        "/lib64",
        "/libx32",
        "/media",
        "/mnt",
        "/opt",
        "/proc",
        "/root",
        "/run",
        "/sbin",
        "/snap",
        "/srv",
        "/sys",
        "/usr",
        "/var",
        "/System",
        "/Users",
        "/Applications",
        "/Library",
        "/private",
        "/Volumes",
        "/nix",
        "/cores",
    }
)

#: Files holding credentials. Matched against normalised paths (home spelled ``~``).
CREDENTIAL_PATH_RE: Final = re.compile(
    r"(?:^|/|~)(?:"
    r"\.ssh/(?!.*\.pub$)(?:id_[^/]*|[^/]*_(?:rsa|ed25519|ecdsa|dsa)|identity|[^/]*\.pem|[^/]*key[^/]*)"
    r"|\.aws/(?:credentials|config|sso/cache)"
    r"|\.netrc|_netrc|\.git-credentials|\.pgpass|\.my\.cnf|\.vault-token|\.pypirc|\.npmrc|\.yarnrc(?:\.yml)?"
    r"|\.docker/config\.json|\.kube/config|\.config/gh/hosts\.yml|\.config/hub"
    r"|\.config/gcloud/(?:credentials\.db|access_tokens\.db|application_default_credentials\.json|legacy_credentials)"
    r"|\.azure/(?:accessTokens\.json|msal_token_cache|azureProfile\.json)"
    r"|\.terraform\.d/credentials\.tfrc\.json|\.cargo/credentials(?:\.toml)?|\.gem/credentials"
    r"|\.gnupg/(?:private-keys|secring|.*\.key)|\.password-store|\.local/share/keyrings"
    r"|\.config/(?:google-chrome|chromium|BraveSoftware)/[^ ]*(?:Login Data|Cookies)"
    r"|\.mozilla/firefox/[^ ]*(?:logins\.json|key4\.db|cookies\.sqlite)"
    r"|Library/Keychains|\.bash_history|\.zsh_history"
    r"|\.(?:ssh|aws|gnupg|kube|azure|docker|password-store)/?$"  # the whole credential directory
    r")"
    r"|^/etc/(?:shadow|gshadow|master\.passwd|sudoers)"
    r"|^/proc/(?:self|\d+|\*|\$\$)/environ"
    r"|^/var/run/secrets/|^/run/secrets/"
)

#: Files whose modification lets code run later (at login, boot, on a schedule) or grants access.
PERSISTENCE_PATH_RE: Final = re.compile(
    r"(?:^|/|~)(?:\.bashrc|\.bash_profile|\.bash_login|\.bash_logout|\.profile|\.zshrc|\.zprofile|\.zshenv"
    r"|\.zlogin|\.cshrc|\.tcshrc|\.kshrc|\.config/fish/config\.fish|\.ssh/authorized_keys2?|\.ssh/rc"
    r"|\.config/systemd/user(?:/|$)|\.config/autostart(?:/|$)|Library/LaunchAgents(?:/|$)|\.xinitrc|\.xprofile)"
    r"|^/etc/(?:profile|bash\.bashrc|zshrc|environment|rc\.local|crontab|cron\.|init\.d/|systemd/"
    r"|ld\.so\.preload|ld\.so\.conf|update-motd\.d|profile\.d|security/|pam\.d|cron\.d)"
    r"|^/(?:usr/lib|lib)/systemd/|^/var/spool/cron|^/Library/Launch(?:Agents|Daemons)(?:/|$)"
    r"|(?:^|/)\.git/hooks(?:/|$)"
)

#: Account and authentication files whose modification changes who may log in as whom.
ACCOUNT_FILE_RE: Final = re.compile(
    r"^/etc/(?:passwd|shadow|group|gshadow|sudoers|sudoers\.d/|ssh/sshd_config|master\.passwd|doas\.conf)"
)

#: Device nodes it is fine to write to.
SAFE_DEVICES: Final = re.compile(r"^/dev/(?:null|zero|stdout|stderr|stdin|tty|full|random|urandom|fd/\d+|pts/\d+|shm/)")
NETWORK_DEVICE_RE: Final = re.compile(r"/dev/(?:tcp|udp)/")
