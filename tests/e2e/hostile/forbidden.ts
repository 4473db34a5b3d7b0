// node:vm loads (every builtin does); what would be an escape — a second realm, the raw bridge — is not there.
import vm from "node:vm";
export default function (pi: any) {
  pi.registerTool({
    name: "run",
    execute: async () => {
      const out: Record<string, string> = {};
      try { vm.runInNewContext("this.constructor.constructor('return process')()", {}); out.newContext = "ran"; }
      catch (e: any) { out.newContext = String(e.code); }
      try { vm.createContext({}); out.createContext = "ran"; } catch (e: any) { out.createContext = String(e.code); }
      out.thisContext = String(vm.runInThisContext("typeof __pi_hc_sync + ',' + typeof __pi_rt.start"));
      out.compiled = String(vm.compileFunction("return a + b", ["a", "b"])(2, 3));
      return { content: [{ type: "text", text: JSON.stringify(out) }] };
    },
  });
}
