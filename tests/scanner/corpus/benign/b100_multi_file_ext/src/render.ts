export const render = (items: string[]) => items.map((i, n) => `${n + 1}. ${i}`).join('\n');
