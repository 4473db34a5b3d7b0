export const doc = "new Function('a', 'return a') and (0, eval)(x) are blocked";
