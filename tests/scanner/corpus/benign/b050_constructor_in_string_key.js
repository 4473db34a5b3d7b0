export function getName(o) { return o['constructor']['name']; }
