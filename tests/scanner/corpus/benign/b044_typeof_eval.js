export const canEval = typeof eval === 'function';
