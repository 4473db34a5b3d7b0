export const schema = { constructor: { type: 'string' }, prototype: { type: 'number' } };
export const name = (o) => o.constructor.name;
export function clone(o) { return new o.constructor(o); }
