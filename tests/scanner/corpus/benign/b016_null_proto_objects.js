export const dict = Object.create(null);
export const bag = { __proto__: null, a: 1 };
