export class Store extends Map<string, number> {
  constructor(private readonly name: string) { super(); }
  label(): string { return this.constructor.name + ':' + this.name; }
}
