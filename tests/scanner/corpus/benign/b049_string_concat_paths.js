const base = 'https://' + 'example.com';
export const url = base + '/v1/' + ['a', 'b'].join('/');
