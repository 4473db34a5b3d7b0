// node:trace_events — loads for every extension. Tracing would write trace files; a tracing object is inert
// (enabling it records nothing), which is what an extension that toggles tracing for diagnostics needs.
export function createTracing({ categories = [] } = {}) {
  let enabled = false;
  return {
    categories: categories.join(","),
    get enabled() { return enabled; },
    enable() { enabled = true; },
    disable() { enabled = false; },
  };
}
export function getEnabledCategories() { return undefined; }
export default { createTracing, getEnabledCategories };
