// Well-behaved: blocks destructive shell commands before they run, and tidies user input.
export default function guard(pi: any) {
  pi.on("tool_call", async (event: any) => {
    const command = String(event.input?.command ?? "");
    if (event.toolName === "bash" && /\brm\s+-[a-z]*r[a-z]*f?\s+\//.test(command)) {
      return { block: true, reason: "guard: recursive delete from the filesystem root is blocked" };
    }
    return undefined;
  });
  pi.on("input", async (event: any) => ({ action: "transform", text: String(event.text ?? "").trim() }));
}
