// The user's own extension (installed with `pi-sandbox ext install`): renames the session, which needs the
// session_admin grant the user gave it in the global settings.
const text = (t: string) => ({ content: [{ type: "text", text: t }] });

export default function (pi: any) {
  pi.registerTool({
    name: "rename",
    execute: async (_id: string, p: any) => {
      try {
        pi.setSessionName(String(p.name));
        return text(`renamed ${pi.getSessionName()}`);
      } catch (e: any) {
        return text(`error ${e && e.message}`);
      }
    },
  });
  pi.registerTool({ name: "whoami", execute: async () => text("installed formatter") });
}
