import { formatDay } from '../app/format.ts';
import { TRAIT_WORDS, type TraitComparison, traitValue } from './words.ts';

const day = (date: string) => formatDay(date, 'long');

/** "certain", "82 % sure": how sure the reader was of a value it read. */
export function confidenceWords(confidence: number | null): string | undefined {
  if (confidence === null) return undefined;
  if (confidence >= 0.999) return 'certain';
  return `${Math.round(confidence * 100)} % sure`;
}

/** A difference in words, for the confirmation and the verification history. */
export function differenceWords(trait: TraitComparison): string {
  return `${TRAIT_WORDS[trait.trait]}: the document says ${traitValue(trait.trait, trait.document, day)}, the record says ${traitValue(trait.trait, trait.hospital, day)}`;
}

/**
 * The patient as the hospital knows them beside what the document says, trait by trait: a difference is
 * marked in words and colour, with where the document's value was read and how sure the reader was.
 */
export function TraitTable({ traits, caption }: { traits: TraitComparison[]; caption: string }) {
  if (traits.length === 0) {
    return <p className="muted">The document names no identity trait to compare.</p>;
  }
  return (
    <div className="table-frame">
      <table className="table traits-table">
        <caption className="visually-hidden">{caption}</caption>
        <thead>
          <tr>
            <th scope="col">Trait</th>
            <th scope="col">The document</th>
            <th scope="col">The hospital’s record</th>
            <th scope="col" className="trait-verdict">
              Compared
            </th>
          </tr>
        </thead>
        <tbody>
          {traits.map((trait) => {
            const how = [
              trait.source ? `read from ${trait.source}` : undefined,
              confidenceWords(trait.confidence),
            ]
              .filter(Boolean)
              .join(' · ');
            return (
              <tr
                key={trait.trait}
                className={
                  trait.agrees === false ? 'trait-differs' : trait.agrees ? 'trait-agrees' : undefined
                }
              >
                <th scope="row">
                  {TRAIT_WORDS[trait.trait]}
                  {trait.strict ? null : <span className="cell-secondary">not a strict trait</span>}
                  <span className="verdict-inline">
                    <Verdict agrees={trait.agrees} />
                  </span>
                </th>
                <td>
                  <span className="trait-value">{traitValue(trait.trait, trait.document, day)}</span>
                  {how ? <span className="cell-secondary source">{how}</span> : null}
                </td>
                <td>
                  <span className="trait-value">{traitValue(trait.trait, trait.hospital, day)}</span>
                </td>
                <td className="trait-verdict">
                  <Verdict agrees={trait.agrees} />
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function Verdict({ agrees }: { agrees: boolean | null }) {
  if (agrees === false) {
    return (
      <span className="verdict verdict-differs">
        <span aria-hidden="true">✗ </span>Differs
      </span>
    );
  }
  if (agrees) {
    return (
      <span className="verdict verdict-agrees">
        <span aria-hidden="true">✓ </span>Same
      </span>
    );
  }
  return <span className="verdict muted">Not compared</span>;
}
