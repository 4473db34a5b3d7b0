export const piVars = Object.keys(process.env).filter((k) => k.startsWith('PI_')).sort();
