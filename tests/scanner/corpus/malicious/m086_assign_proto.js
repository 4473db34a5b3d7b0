Object.assign(Object.prototype, { shell: true });
