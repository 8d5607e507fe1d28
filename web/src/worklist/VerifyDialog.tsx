import * as AlertDialog from '@radix-ui/react-alert-dialog';
import type { ReactNode } from 'react';
import { differenceWords } from './TraitTable.tsx';
import type { TraitComparison } from './words.ts';

/**
 * The explicit confirmation before verifying a request whose identity check is not `ok`: it names every
 * trait on which the document and the record differ (and what made the check fail), and Cancel has the
 * focus when it opens.
 */
export function VerifyDialog({
  open,
  onOpenChange,
  patient,
  traits,
  reasons,
  busy,
  onConfirm,
}: {
  open: boolean;
  onOpenChange: (open: boolean) => void;
  patient: string;
  traits: TraitComparison[];
  /** The mismatch reasons and the matcher's note: why no one was matched automatically. */
  reasons: string[];
  busy: boolean;
  onConfirm: (acknowledged: string[]) => void;
}) {
  const differences = traits.filter((trait) => trait.agrees === false);
  const acknowledged = [...differences.map(differenceWords), ...reasons].map((line) => line.slice(0, 200));
  return (
    <AlertDialog.Root open={open} onOpenChange={onOpenChange}>
      <AlertDialog.Portal>
        <AlertDialog.Overlay className="dialog-overlay" />
        <AlertDialog.Content className="dialog">
          <AlertDialog.Title className="dialog-title">
            {differences.length > 0
              ? `Verify as ${patient} despite ${differences.length === 1 ? 'a difference' : `${differences.length} differences`}?`
              : `Verify as ${patient}?`}
          </AlertDialog.Title>
          <AlertDialog.Description asChild>
            <div className="dialog-body">
              {differences.length > 0 ? (
                <>
                  <p>The document and this patient’s record differ on:</p>
                  <ul className="dialog-differences">
                    {differences.map((trait) => (
                      <li key={trait.trait}>{differenceWords(trait)}</li>
                    ))}
                  </ul>
                </>
              ) : (
                <p>
                  Nothing the document says contradicts this record, but the identity was not confirmed
                  automatically.
                </p>
              )}
              {reasons.length > 0 ? (
                <Reasons>
                  {reasons.map((reason) => (
                    <li key={reason}>{reason}</li>
                  ))}
                </Reasons>
              ) : null}
              <p>
                Verifying files this document in {patient}’s record. The differences you confirm are kept in
                the request’s history with your name.
              </p>
            </div>
          </AlertDialog.Description>
          <div className="dialog-actions">
            <AlertDialog.Cancel className="button button-secondary">Cancel</AlertDialog.Cancel>
            <AlertDialog.Action
              className="button button-danger"
              aria-busy={busy || undefined}
              onClick={(event) => {
                event.preventDefault();
                if (!busy) onConfirm(acknowledged.slice(0, 10));
              }}
            >
              {differences.length > 0 ? 'Verify despite the differences' : 'Verify as this patient'}
            </AlertDialog.Action>
          </div>
        </AlertDialog.Content>
      </AlertDialog.Portal>
    </AlertDialog.Root>
  );
}

function Reasons({ children }: { children: ReactNode }) {
  return (
    <>
      <p>What the checks found:</p>
      <ul className="dialog-differences">{children}</ul>
    </>
  );
}
